/**
 * Sediment benchmark harness.
 *
 *   npm run bench                      all scenarios (several minutes)
 *   npm run bench -- --quick           scaled down (under 2 minutes)
 *   npm run bench -- --profile         also a --cpu-prof run of steady, with its top self-time functions
 *   npm run bench -- --only steady,wide --repeat 2 --timeout 240 --no-readme
 *
 * Every measured pipeline runs in its own child process (worker.ts, or kcat | gzip), so peak RSS and CPU
 * seconds are per run. Baselines run in the same invocation on the same data, and the table reports ratios to
 * them: on a shared machine the ratios mean something, absolute numbers much less. Results go to
 * bench/results/<time>-<mode>.json and bench/results/latest.json; a complete run also rewrites its section of
 * bench/README.md.
 */
import { fork } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { MockKafka } from '../src/testing/mock-kafka.js'
import { S3TestServer } from '../src/testing/s3-server.js'
import { estimateBytesPerMessage, generate, produce } from './data.js'
import type { Job, S3Target, WorkerMessage, WorkerResult } from './jobs.js'
import { machineBusySeconds, percentiles, processCpuSeconds } from './measure.js'
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.js'
import {
  evaluateTargets, formatReport, summarize, updateReadme,
  type BenchResults, type PipelineName, type RunRecord, type ScenarioRecord
} from './report.js'
import { MAX_PARTITION_BYTES, SCENARIO_NAMES, scenarios, type CutScenario, type KafkaScenario, type OutputVariant, type Scenario, type StagesScenario } from './scenarios.js'
import { haveCommand, kcatEofOffsets, runPipeline } from './shell.js'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const ROOT = resolve(HERE, '..')
const WORKER = join(HERE, 'worker.ts')
const RESULTS = join(HERE, 'results')
const README = join(HERE, 'README.md')
const BUCKET = 'sediment-bench'

// ---------------------------------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean
  only: string[] | undefined
  profile: string[]
  repeat: number
  timeoutMs: number
  readme: boolean
}

const USAGE = `usage: npm run bench -- [--quick] [--profile[=SCENARIO,...]] [--only SCENARIO,...] [--repeat N] [--timeout SECONDS] [--no-readme]
scenarios: ${SCENARIO_NAMES.join(', ')}`

function parseArgs (args: string[]): Options {
  const o: Options = { quick: false, only: undefined, profile: [], repeat: 1, timeoutMs: 0, readme: true }
  let timeoutS: number | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    const value = (): string => {
      const v = inline ?? args[++i]
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`)
      return v
    }
    const list = (v: string): string[] => {
      const names = v.split(',').map((s) => s.trim()).filter((s) => s !== '')
      for (const n of names) if (!(SCENARIO_NAMES as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n}\n${USAGE}`)
      return names
    }
    switch (flag) {
      case '--quick': o.quick = true; break
      case '--profile': o.profile = inline === undefined ? ['steady'] : list(inline); break
      case '--only': o.only = list(value()); break
      case '--repeat': o.repeat = Math.max(1, Math.floor(Number(value())) || 1); break
      case '--timeout': timeoutS = Number(value()); break
      case '--no-readme': o.readme = false; break
      case '--help': case '-h': console.log(USAGE); process.exit(0); break
      default: throw new Error(`unknown argument ${arg}\n${USAGE}`)
    }
  }
  o.timeoutMs = (timeoutS !== undefined && timeoutS > 0 ? timeoutS : o.quick ? 60 : 240) * 1000
  return o
}

// ---------------------------------------------------------------------------------------------------------------
// Progress on stderr (one updating line on a terminal, a line every few seconds otherwise)

class Progress {
  readonly #tty = process.stderr.isTTY === true
  #lastPrint = 0

  show (label: string, text: string): void {
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K[${label}] ${text}`.slice(0, (process.stderr.columns ?? 160) + 6))
    } else if (Date.now() - this.#lastPrint >= 5000) {
      this.#lastPrint = Date.now()
      process.stderr.write(`[${label}] ${text}\n`)
    }
  }

  line (label: string, text: string): void {
    if (this.#tty) process.stderr.write('\r\x1b[2K')
    process.stderr.write(`[${label}] ${text}\n`)
    this.#lastPrint = 0
  }
}

const progress = new Progress()

function fmtRate (bytes: number, ms: number): string {
  return ms <= 0 ? '' : `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`
}

// ---------------------------------------------------------------------------------------------------------------
// Running a worker

interface WorkerOutcome {
  result?: WorkerResult
  error?: string
}

let current: { kill: () => void } | undefined

/**
 * `profileDir`: run under --cpu-prof, writing there. Node names the files CPU.<date>.<time>.<pid>.<thread>.<seq>:
 * no fixed --cpu-prof-name, since tsx's loader hooks run in a worker thread that writes a profile too.
 */
function runWorker (job: Job, label: string, hardTimeoutMs: number, profileDir?: string): Promise<WorkerOutcome> {
  const execArgv = ['--import', 'tsx']
  if (profileDir !== undefined) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`)
  const child = fork(WORKER, [JSON.stringify(job)], { cwd: ROOT, execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  const started = Date.now()
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', () => {})
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-8000) })
  let result: WorkerResult | undefined
  child.on('message', (m: WorkerMessage) => {
    if (m.type === 'result') {
      result = m.result
      return
    }
    const elapsed = Date.now() - started
    const pct = m.total > 0 ? ` (${((100 * m.done) / m.total).toFixed(0)}%)` : ''
    progress.show(label, `${(elapsed / 1000).toFixed(0)} s: ${m.done.toLocaleString('en-US')} / ${m.total.toLocaleString('en-US')}${pct} read, ${fmtRate(m.bytes, elapsed)} since start${m.extra !== undefined ? `; ${m.extra}` : ''}`)
  })
  const kill = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  current = { kill }
  const timer = setTimeout(kill, hardTimeoutMs)
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      current = undefined
      if (result !== undefined) resolve({ result })
      else resolve({ error: `worker exited (${signal ?? `code ${String(code)}`}) without a result${stderr.trim() === '' ? '' : `: ${stderr.trim().split('\n').slice(-5).join(' / ')}`}` })
    })
  })
}

function toRecord (pipeline: PipelineName, attempt: number, outcome: WorkerOutcome): RunRecord {
  const r = outcome.result
  if (r === undefined) {
    return { pipeline, attempt, ok: false, error: outcome.error ?? 'no result', messages: 0, inputBytes: 0, elapsedMs: 0, msgsPerSec: 0, mbPerSec: 0, peakRssMB: null, cpuSeconds: null }
  }
  const seconds = r.elapsedMs / 1000
  const rec: RunRecord = {
    pipeline,
    attempt,
    ok: r.error === undefined,
    messages: r.messages,
    inputBytes: r.inputBytes,
    elapsedMs: Math.round(r.elapsedMs),
    msgsPerSec: seconds > 0 ? r.messages / seconds : 0,
    mbPerSec: seconds > 0 ? r.inputBytes / 1e6 / seconds : 0,
    peakRssMB: r.peakRssBytes === null ? null : r.peakRssBytes / 1e6,
    cpuSeconds: r.cpuSeconds,
    processCpuSeconds: r.processCpuSeconds
  }
  if (r.sinceStartMs !== undefined) {
    rec.fromStartMs = Math.round(r.sinceStartMs)
    rec.mbPerSecFromStart = r.sinceStartMs > 0 ? r.inputBytes / 1e6 / (r.sinceStartMs / 1000) : 0
  }
  if (r.cpuSinceStartSeconds !== undefined) rec.cpuFromStartSeconds = r.cpuSinceStartSeconds
  if (r.error !== undefined) rec.error = r.error
  if (r.files !== undefined) rec.files = r.files
  if (r.bytesWritten !== undefined) rec.bytesWritten = r.bytesWritten
  if (r.encodedBytes !== undefined) rec.encodedBytes = r.encodedBytes
  if (r.bytesWritten !== undefined && r.encodedBytes !== undefined && r.bytesWritten > 0) rec.compressionRatio = r.encodedBytes / r.bytesWritten
  if (r.cutToCommitMs !== undefined) rec.cutToCommitMs = percentiles(r.cutToCommitMs)
  if (r.joinMs !== undefined) rec.joinMs = Math.round(r.joinMs)
  if (r.readMs !== undefined) rec.readMs = Math.round(r.readMs)
  if (r.peakRssAtEndOfInputBytes !== undefined) rec.peakRssAtEndOfInputMB = r.peakRssAtEndOfInputBytes === null ? null : r.peakRssAtEndOfInputBytes / 1e6
  if (r.maxOpenFiles !== undefined) rec.maxOpenFiles = r.maxOpenFiles
  if (r.maxBufferedBytes !== undefined) rec.maxBufferedMB = r.maxBufferedBytes / 1e6
  if (r.sourcePausedFraction !== undefined) rec.sourcePausedFraction = r.sourcePausedFraction
  if (r.notes !== undefined) rec.notes = r.notes
  return rec
}

/** The service job counts committed records, not bytes: give it the topic's bytes, as the other pipelines count. */
function withInput (rec: RunRecord, bytes: number): RunRecord {
  if (rec.messages === 0) return rec
  rec.inputBytes = bytes
  rec.mbPerSec = rec.elapsedMs > 0 ? bytes / 1e6 / (rec.elapsedMs / 1000) : 0
  if (rec.fromStartMs !== undefined) rec.mbPerSecFromStart = rec.fromStartMs > 0 ? bytes / 1e6 / (rec.fromStartMs / 1000) : 0
  return rec
}

function describe (r: RunRecord): string {
  if (!r.ok) return `FAILED: ${r.error ?? ''}`
  const extra: string[] = []
  if (r.readMs !== undefined) extra.push(`all read after ${(r.readMs / 1000).toFixed(2)} s (RSS then ${r.peakRssAtEndOfInputMB == null ? '?' : r.peakRssAtEndOfInputMB.toFixed(0)} MB)`)
  if (r.cutToCommitMs != null) extra.push(`cut→commit p50 ${r.cutToCommitMs.p50} ms, max ${r.cutToCommitMs.max} ms`)
  if (r.maxOpenFiles !== undefined) extra.push(`max open files ${r.maxOpenFiles}`)
  if (r.sourcePausedFraction !== undefined) extra.push(`source held by backpressure ${(100 * r.sourcePausedFraction).toFixed(0)}% of the time`)
  return `${r.messages.toLocaleString('en-US')} msgs in ${(r.elapsedMs / 1000).toFixed(2)} s = ${Math.round(r.msgsPerSec).toLocaleString('en-US')} msgs/s, ${r.mbPerSec.toFixed(1)} MB/s; ` +
    `RSS ${r.peakRssMB === null ? '?' : r.peakRssMB.toFixed(0)} MB, CPU ${r.cpuSeconds === null ? '?' : r.cpuSeconds.toFixed(1)} s${extra.length > 0 ? `; ${extra.join(', ')}` : ''}`
}

/**
 * CPU used by the helper servers while `fn` runs, and by everything else on the machine (other users' work:
 * the noise), as machine busy time minus the run's own, the broker's and the S3 server's.
 */
async function withInfraCpu<T extends RunRecord> (pids: { broker?: number | undefined, s3?: number | undefined }, fn: () => Promise<T>): Promise<T> {
  const cpu = (pid: number | undefined): number | null => (pid === undefined ? null : processCpuSeconds(pid))
  const b0 = cpu(pids.broker)
  const s0 = cpu(pids.s3)
  const m0 = machineBusySeconds()
  const t0 = performance.now()
  const rec = await fn()
  const wallSeconds = (performance.now() - t0) / 1000
  const m1 = machineBusySeconds()
  const b1 = cpu(pids.broker)
  const s1 = cpu(pids.s3)
  if (pids.broker !== undefined) rec.brokerCpuSeconds = b0 !== null && b1 !== null ? b1 - b0 : null
  if (pids.s3 !== undefined) rec.s3CpuSeconds = s0 !== null && s1 !== null ? s1 - s0 : null
  if (m0 !== null && m1 !== null && rec.cpuSeconds !== null && wallSeconds > 0) {
    // over the whole child's life (start-up and group join included), so only roughly comparable
    const own = (rec.processCpuSeconds ?? rec.cpuSeconds) + (rec.brokerCpuSeconds ?? 0) + (rec.s3CpuSeconds ?? 0)
    rec.otherCores = Math.max(0, (m1 - m0 - own) / wallSeconds)
  }
  return rec
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

interface Context {
  options: Options
  stamp: string
  profiles: Array<ProfileSummary & { scenario: string, run: RunRecord }>
  kcat: boolean
  /** The zstd command, for the zstd -3 baselines beside the zstd runs. */
  zstd: boolean
}

function s3Target (s3: S3TestServer): S3Target {
  return { endpoint: s3.endpoint, bucket: BUCKET, credentials: s3.clientConfig.credentials }
}

async function runKafkaScenario (s: KafkaScenario, ctx: Context): Promise<ScenarioRecord> {
  const { options } = ctx
  const record: ScenarioRecord = { name: s.name, description: s.description, data: s.data, runs: [] }
  const perPartition = (estimateBytesPerMessage(s.data) * s.data.count) / s.data.partitions
  if (perPartition > MAX_PARTITION_BYTES) throw new Error(`${s.name}: ~${(perPartition / 1048576).toFixed(1)} MiB per partition exceeds what the mock broker keeps`)
  const mock = await MockKafka.start()
  const s3 = await S3TestServer.start({ buckets: [BUCKET] })
  const pids = { broker: mock.pid, s3: s3.pid }
  try {
    const topic = `bench-${s.name}`
    await mock.createTopic(topic, s.data.partitions)
    const t0 = Date.now()
    const produced = await produce(mock.bootstrap, topic, s.data, {
      ...(s.setBytes !== undefined ? { setBytes: s.setBytes } : {}),
      deadline: Date.now() + options.timeoutMs,
      onProgress: (done, bytes) => { progress.show(`${s.name}/produce`, `${done.toLocaleString('en-US')} / ${s.data.count.toLocaleString('en-US')} messages, ${fmtRate(bytes, Date.now() - t0)}`) }
    })
    record.produced = { messages: produced.messages, bytes: produced.bytes, maxPartitionBytes: produced.maxPartitionBytes, elapsedMs: produced.elapsedMs }
    progress.line(`${s.name}/produce`, `${produced.messages.toLocaleString('en-US')} messages, ${(produced.bytes / 1e6).toFixed(1)} MB (largest partition ${(produced.maxPartitionBytes / 1048576).toFixed(2)} MiB) in ${(produced.elapsedMs / 1000).toFixed(1)} s`)

    const sedimentJob = (attempt: string, variant?: OutputVariant): Job => ({
      kind: 'sediment',
      brokers: mock.bootstrap,
      topic,
      groupId: `bench-${s.name}-${variant?.pipeline ?? 'sediment'}-${attempt}`,
      expected: produced.messages,
      s3: s3Target(s3),
      prefix: `${s.name}-${variant?.pipeline ?? 'sediment'}-${attempt}`,
      sink: s.sink,
      ...(variant !== undefined ? { output: variant.output } : {}),
      timeoutMs: options.timeoutMs,
      progressMs: 1000
    })
    const hard = options.timeoutMs + 30_000

    for (let attempt = 1; attempt <= options.repeat; attempt++) {
      const tag = options.repeat > 1 ? ` #${attempt}` : ''
      // 1. raw kafkajs
      const raw = await withInfraCpu(pids, async () => toRecord('kafkajs-raw', attempt, await runWorker({
        kind: 'kafkajs-raw', brokers: mock.bootstrap, topic, groupId: `bench-${s.name}-raw-${attempt}`, expected: produced.messages, timeoutMs: options.timeoutMs, progressMs: 1000
      }, `${s.name}/kafkajs${tag}`, hard)))
      record.runs.push(raw)
      progress.line(`${s.name}/kafkajs${tag}`, describe(raw))

      // 2. kcat | gzip -6
      if (ctx.kcat) {
        const kc = await withInfraCpu(pids, async () => await runKcat(mock.bootstrap, topic, produced, attempt, s.name + tag, options.timeoutMs, 'gzip', `bench-${s.name}-kcat-${attempt}`))
        record.runs.push(kc)
        progress.line(`${s.name}/kcat${tag}`, describe(kc))
      }

      // 3. Sediment end to end
      const sed = await withInfraCpu(pids, async () => toRecord('sediment', attempt, await runWorker(sedimentJob(String(attempt)), `${s.name}/sediment${tag}`, hard)))
      record.runs.push(sed)
      progress.line(`${s.name}/sediment${tag}`, describe(sed))

      // 4. The service (CLI path) with 1 and N pipelines
      for (const n of s.workers ?? []) {
        const label = `${s.name}/service-w${n}${tag}`
        const rec = await withInfraCpu(pids, async () => withInput(toRecord(n === 1 ? 'service-w1' : 'service-w2', attempt, await runWorker({
          kind: 'service', brokers: mock.bootstrap, topic, groupId: `bench-${s.name}-service-w${n}-${attempt}`, expected: produced.messages,
          s3: s3Target(s3), prefix: `${s.name}-service-w${n}-${attempt}`, sink: s.sink, workers: n, timeoutMs: options.timeoutMs, progressMs: 1000
        }, label, hard)), produced.bytes))
        record.runs.push(rec)
        progress.line(label, `${describe(rec)}${rec.notes !== undefined ? `; ${rec.notes.join('; ')}` : ''}`)
      }

      // 5. Other outputs on the same data, and kcat | zstd -3 beside the zstd run.
      for (const variant of s.variants ?? []) {
        if (variant.output.compression === 'zstd' && ctx.kcat && ctx.zstd) {
          const kz = await withInfraCpu(pids, async () => await runKcat(mock.bootstrap, topic, produced, attempt, s.name + tag, options.timeoutMs, 'zstd', `bench-${s.name}-kcat-zstd-${attempt}`))
          record.runs.push(kz)
          progress.line(`${s.name}/kcat-zstd${tag}`, describe(kz))
        }
        const v = await withInfraCpu(pids, async () => toRecord(variant.pipeline, attempt, await runWorker(sedimentJob(String(attempt), variant), `${s.name}/${variant.pipeline}${tag}`, hard)))
        record.runs.push(v)
        progress.line(`${s.name}/${variant.pipeline}${tag}`, describe(v))
      }
    }

    if (options.profile.includes(s.name)) {
      const dir = join(ROOT, '.cache', 'bench', `profile-${ctx.stamp}`, s.name)
      await mkdir(dir, { recursive: true })
      const job = { ...sedimentJob('profiled'), sourceMapsOut: join(dir, 'sourcemaps.json') }
      const outcome = await runWorker(job, `${s.name}/sediment --cpu-prof`, hard, dir)
      const rec = toRecord('sediment', 0, outcome)
      rec.profiled = true
      record.runs.push(rec)
      progress.line(`${s.name}/sediment --cpu-prof`, describe(rec))
      // the main thread's profile: thread id 0 in CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
      const main = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0')
      const file = join(dir, main ?? 'none')
      if (main !== undefined) {
        const summary = summarizeProfile(file, {
          root: ROOT,
          sourceMaps: job.sourceMapsOut,
          ...(outcome.result !== undefined ? { window: outcome.result.windowMicros } : {})
        })
        summary.file = relative(ROOT, file)
        ctx.profiles.push({ ...summary, scenario: s.name, run: rec })
        console.error(`\n${formatProfile(summary)}\n`)
      } else {
        progress.line(`${s.name}/profile`, `no main-thread profile written in ${dir}`)
      }
    }
  } finally {
    await mock.stop()
    await s3.stop()
  }
  return record
}

async function runKcat (bootstrap: string[], topic: string, produced: { messages: number, bytes: number, perPartition: number[] }, attempt: number, label: string, timeoutMs: number, codec: 'gzip' | 'zstd', groupId: string): Promise<RunRecord> {
  // -G: a consumer group (balanced consumer), like Sediment and the kafkajs baseline, so it pays the same group
  // join; a new group starts at the earliest offset. -e: exit at the end of every partition; without -q kcat
  // reports its assignment (the end of the join: our "first batch") and each partition's end offset (checked below).
  const sh = await runPipeline([
    ['kcat', '-b', bootstrap.join(','), '-G', groupId, '-X', 'auto.offset.reset=earliest', '-e', '-f', '%s\\n', topic],
    codec === 'gzip' ? ['gzip', '-6'] : ['zstd', '-3', '-q', '-c']
  ], { timeoutMs, markStderr: /rebalanced .*assigned/, onTick: (ms) => { progress.show(`${label}/kcat`, `${(ms / 1000).toFixed(0)} s`) } })
  const eof = kcatEofOffsets(sh.stderr)
  let messages = 0
  for (const n of eof.values()) messages += n
  // from the assignment (kcat's "first batch") when it was seen, else from spawn
  const windowMs = sh.markMs === null ? sh.elapsedMs : sh.elapsedMs - sh.markMs
  const rec: RunRecord = {
    pipeline: codec === 'gzip' ? 'kcat-gzip' : 'kcat-zstd',
    attempt,
    ok: true,
    messages,
    inputBytes: produced.bytes,
    elapsedMs: Math.round(windowMs),
    msgsPerSec: messages / (windowMs / 1000),
    mbPerSec: produced.bytes / 1e6 / (windowMs / 1000),
    fromStartMs: Math.round(sh.elapsedMs),
    mbPerSecFromStart: produced.bytes / 1e6 / (sh.elapsedMs / 1000),
    peakRssMB: sh.peakRssBytes === null ? null : sh.peakRssBytes / 1e6,
    cpuSeconds: sh.cpuSeconds,
    cpuFromStartSeconds: sh.cpuSeconds
  }
  if (sh.markMs !== null) rec.joinMs = Math.round(sh.markMs)
  const gz = Number(sh.stdout.trim())
  if (gz > 0) {
    rec.bytesWritten = gz
    rec.encodedBytes = produced.bytes + messages
    rec.compressionRatio = rec.encodedBytes / gz
  }
  if (sh.timedOut) { rec.ok = false; rec.error = `timed out after ${timeoutMs} ms` } else if (sh.exitCode !== 0) {
    rec.ok = false
    rec.error = `exit ${String(sh.exitCode)}: ${sh.stderr.trim().split('\n').filter((l) => !l.includes('Reached end')).slice(-3).join(' / ')}`
  } else if (messages !== produced.messages || eof.size !== produced.perPartition.length) {
    rec.ok = false
    rec.error = `kcat reached the end of ${eof.size} partitions after ${messages} messages, expected ${produced.perPartition.length} and ${produced.messages}`
  }
  rec.notes = [sh.markMs === null ? 'no assignment seen on stderr: elapsed from spawn' : 'elapsed from its group assignment; fromStartMs from spawn (start, connect, group join)', 'CPU seconds: whole life of kcat and the compressor (GNU time)']
  return rec
}

async function runStagesScenario (s: StagesScenario, ctx: Context): Promise<ScenarioRecord> {
  const { options } = ctx
  const record: ScenarioRecord = { name: s.name, description: s.description, data: s.data, runs: [] }
  // The same bytes as JSON lines in a file, for the gzip -6 baseline.
  const dir = await mkdtemp(join(tmpdir(), 'sediment-bench-'))
  const file = join(dir, 'lines.jsonl')
  try {
    let messages = 0
    let bytes = 0
    const out = createWriteStream(file)
    for (const m of generate(s.data)) {
      messages++
      bytes += m.value.length
      if (!out.write(Buffer.concat([m.value, Buffer.from('\n')]))) await once(out, 'drain')
    }
    out.end()
    await once(out, 'finish')
    for (let attempt = 1; attempt <= options.repeat; attempt++) {
      const tag = options.repeat > 1 ? ` #${attempt}` : ''
      const base = await withInfraCpu({}, async () => await fileBaseline('gzip-file', ['gzip', '-6'], file, messages, bytes, attempt, options.timeoutMs))
      record.runs.push(base)
      progress.line(`${s.name}/gzip${tag}`, describe(base))

      const rec = await withInfraCpu({}, async () => toRecord('sediment', attempt, await runWorker({
        kind: 'stages', data: s.data, batchBytes: s.batchBytes, timeoutMs: options.timeoutMs, progressMs: 1000
      }, `${s.name}/stages${tag}`, options.timeoutMs + 60_000)))
      record.runs.push(rec)
      progress.line(`${s.name}/stages${tag}`, describe(rec))

      for (const variant of s.variants ?? []) {
        if (variant.output.compression === 'zstd' && ctx.zstd) {
          const z = await withInfraCpu({}, async () => await fileBaseline('zstd-file', ['zstd', '-3', '-q', '-c'], file, messages, bytes, attempt, options.timeoutMs))
          record.runs.push(z)
          progress.line(`${s.name}/zstd${tag}`, describe(z))
        }
        const v = await withInfraCpu({}, async () => toRecord(variant.pipeline, attempt, await runWorker({
          kind: 'stages', data: s.data, batchBytes: s.batchBytes, output: variant.output, timeoutMs: options.timeoutMs, progressMs: 1000
        }, `${s.name}/${variant.pipeline}${tag}`, options.timeoutMs + 60_000)))
        record.runs.push(v)
        progress.line(`${s.name}/${variant.pipeline}${tag}`, describe(v))
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return record
}

/** A one-core shell compressor over the JSON lines in `file` (the stages-only baselines). */
async function fileBaseline (pipeline: 'gzip-file' | 'zstd-file', command: string[], file: string, messages: number, bytes: number, attempt: number, timeoutMs: number): Promise<RunRecord> {
  const sh = await runPipeline([command], { input: file, timeoutMs })
  const out = Number(sh.stdout.trim())
  const rec: RunRecord = {
    pipeline,
    attempt,
    ok: sh.exitCode === 0 && !sh.timedOut,
    messages,
    inputBytes: bytes,
    elapsedMs: Math.round(sh.elapsedMs),
    msgsPerSec: messages / (sh.elapsedMs / 1000),
    mbPerSec: bytes / 1e6 / (sh.elapsedMs / 1000),
    peakRssMB: sh.peakRssBytes === null ? null : sh.peakRssBytes / 1e6,
    cpuSeconds: sh.cpuSeconds,
    bytesWritten: out,
    encodedBytes: bytes + messages,
    compressionRatio: out > 0 ? (bytes + messages) / out : 0
  }
  if (!rec.ok) rec.error = sh.timedOut ? 'timed out' : `exit ${String(sh.exitCode)}: ${sh.stderr.trim()}`
  return rec
}

async function runCutScenario (s: CutScenario, ctx: Context): Promise<ScenarioRecord> {
  const { options } = ctx
  const record: ScenarioRecord = { name: s.name, description: s.description, runs: [] }
  const s3 = await S3TestServer.start({ buckets: [BUCKET] })
  try {
    for (let attempt = 1; attempt <= options.repeat; attempt++) {
      const tag = options.repeat > 1 ? ` #${attempt}` : ''
      for (const mode of ['paced', 'burst'] as const) {
        const rec = await withInfraCpu({ s3: s3.pid }, async () => toRecord(mode === 'paced' ? 'sink-paced' : 'sink-burst', attempt, await runWorker({
          kind: 'sink-cut', s3: s3Target(s3), fileBytes: s.fileBytes, chunkBytes: s.chunkBytes, mode, timeoutMs: options.timeoutMs, progressMs: 1000
        }, `${s.name}/${mode}${tag}`, options.timeoutMs + 30_000)))
        rec.messages = 0
        rec.msgsPerSec = 0
        record.runs.push(rec)
        progress.line(`${s.name}/${mode}${tag}`, rec.ok ? `cut→commit ${rec.cutToCommitMs?.max ?? '?'} ms; ${(rec.inputBytes / 1e6).toFixed(0)} MB written → committed in ${(rec.elapsedMs / 1000).toFixed(2)} s; ${rec.notes?.join('; ') ?? ''}` : describe(rec))
      }
    }
  } finally {
    await s3.stop()
  }
  return record
}

// ---------------------------------------------------------------------------------------------------------------

function machineInfo (kcat: boolean): Record<string, unknown> {
  let kcatVersion = 'kcat not installed'
  if (kcat) {
    try {
      const v = execFileSync('kcat', ['-V'], { encoding: 'utf8' })
      const m = /Version (\S+).*librdkafka (\S+)/.exec(v)
      kcatVersion = m === null ? 'kcat' : `kcat ${m[1] as string} (librdkafka ${m[2] as string})`
    } catch {}
  }
  let git = 'unknown'
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== ''
    git = `${head}${dirty ? ' (src/ modified)' : ''}`
  } catch {}
  return {
    git,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(totalmem() / 1e9),
    node: process.version,
    kcat: kcatVersion,
    gnuTime: existsSync('/usr/bin/time'),
    loadAverage: { start: loadavg() }
  }
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  const options = parseArgs(args)
  const startedAt = new Date()
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const kcat = await haveCommand('kcat')
  if (!kcat) progress.line('bench', 'kcat not found: the kcat | gzip baseline is skipped (apt-get install -y kcat)')
  const machine = machineInfo(kcat)
  const zstd = await haveCommand('zstd')
  if (!zstd) progress.line('bench', 'zstd not found: the zstd -3 baselines are skipped (apt-get install -y zstd)')
  const ctx: Context = { options, stamp, profiles: [], kcat, zstd }
  const selected = scenarios(options.quick).filter((s) => options.only === undefined || options.only.includes(s.name))
  for (const p of options.profile) {
    const s = selected.find((x) => x.name === p)
    if (s === undefined || s.kind !== 'kafka') throw new Error(`--profile: ${p} is not a selected Kafka scenario`)
  }
  const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`
  progress.line('bench', `${command}: ${selected.map((s) => s.name).join(', ')}; each run bounded to ${options.timeoutMs / 1000} s`)

  const records: ScenarioRecord[] = []
  for (const s of selected as Scenario[]) {
    const t0 = Date.now()
    progress.line(s.name, s.description)
    try {
      if (s.kind === 'kafka') records.push(await runKafkaScenario(s, ctx))
      else if (s.kind === 'stages') records.push(await runStagesScenario(s, ctx))
      else records.push(await runCutScenario(s, ctx))
    } catch (err) {
      progress.line(s.name, `FAILED: ${err instanceof Error ? err.message : String(err)}`)
      records.push({ name: s.name, description: s.description, runs: [] })
    }
    progress.line(s.name, `done in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }

  ;(machine.loadAverage as { end?: number[] }).end = loadavg()
  const summary = summarize(records)
  const results: BenchResults = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    mode: options.quick ? 'quick' : 'full',
    complete: options.only === undefined && records.every((r) => r.runs.length > 0),
    machine,
    scenarios: records,
    summary,
    targets: evaluateTargets(summary, records),
    profiles: ctx.profiles
  }
  await mkdir(RESULTS, { recursive: true })
  const resultFile = join(RESULTS, `${stamp}-${results.mode}.json`)
  const json = `${JSON.stringify(results, null, 2)}\n`
  await writeFile(resultFile, json)
  await writeFile(join(RESULTS, 'latest.json'), json)
  console.log(`\n${formatReport(results)}\n`)
  console.log(`results: ${relative(ROOT, resultFile)} (and bench/results/latest.json)`)
  if (options.readme && options.only === undefined) {
    await updateReadme(README, results, relative(ROOT, resultFile))
    console.log(`updated bench/README.md (${results.mode} section)`)
  }
}

process.on('SIGINT', () => {
  current?.kill()
  process.exit(130) // the mock broker and the S3 server end in their 'exit' hooks
})

main().then(() => { process.exit(0) }, (err: unknown) => {
  current?.kill()
  console.error(err instanceof Error ? err.stack ?? err.message : err)
  process.exit(1)
})
