/** Result records, the summary table with ratios, the targets, and the README section. */
import { readFile, writeFile } from 'node:fs/promises'
import type { Percentiles } from './measure.js'
import type { ProfileSummary } from './profile.js'
import { formatProfile } from './profile.js'

export type PipelineName = 'sediment' | 'service-w1' | 'service-w2' | 'sediment-zstd' | 'sediment-parquet' | 'kafkajs-raw' | 'kcat-gzip' | 'kcat-zstd' | 'gzip-file' | 'zstd-file' | 'sink-paced' | 'sink-burst'

export const PIPELINE_LABELS: Record<PipelineName, string> = {
  sediment: 'Sediment e2e',
  'sediment-zstd': 'Sediment, zstd -3',
  'sediment-parquet': 'Sediment, Parquet (snappy)',
  'service-w1': 'service, workers: 1 ⁵',
  'service-w2': 'service, workers: 2 ⁵',
  'kafkajs-raw': 'kafkajs, no work',
  'kcat-gzip': 'kcat \\| gzip -6',
  'kcat-zstd': 'kcat \\| zstd -3',
  'gzip-file': 'gzip -6 of a file',
  'zstd-file': 'zstd -3 of a file',
  'sink-paced': 'sink, paced',
  'sink-burst': 'sink, burst'
}

export interface RunRecord {
  pipeline: PipelineName
  attempt: number
  ok: boolean
  error?: string
  messages: number
  inputBytes: number
  elapsedMs: number
  msgsPerSec: number
  /** Input (message value) megabytes per second, MB = 10^6 bytes. */
  mbPerSec: number
  peakRssMB: number | null
  /** CPU seconds (all threads) of the measured process in the measured window (from the first batch). */
  cpuSeconds: number | null
  /** Wall time from process start (module loading, connecting and group join included) to the end. */
  fromStartMs?: number
  mbPerSecFromStart?: number
  /** CPU seconds (all threads) of the measured process from its start to the end of the measured window
   *  (kcat | gzip: both processes' whole lives). */
  cpuFromStartSeconds?: number | null
  /** CPU seconds of the measured process over its whole life (for the noise estimate). */
  processCpuSeconds?: number
  /** Cores busy with other work on the machine during the run (noise): machine busy time minus ours, per second. */
  otherCores?: number
  /** CPU the mock broker / the S3 server used during the run (they share the machine's two cores). */
  brokerCpuSeconds?: number | null
  s3CpuSeconds?: number | null
  files?: number
  bytesWritten?: number
  encodedBytes?: number
  compressionRatio?: number
  cutToCommitMs?: Percentiles | null
  joinMs?: number
  /** Sediment: seconds until everything was read (the rest of elapsedMs is the end-of-input flush). */
  readMs?: number
  peakRssAtEndOfInputMB?: number | null
  maxOpenFiles?: number
  maxBufferedMB?: number
  sourcePausedFraction?: number
  profiled?: boolean
  notes?: string[]
}

export interface ScenarioRecord {
  name: string
  description: string
  data?: unknown
  produced?: { messages: number, bytes: number, maxPartitionBytes: number, elapsedMs: number }
  runs: RunRecord[]
}

export interface SummaryRow extends RunRecord {
  scenario: string
  /** Throughput ratio to the scenario's raw kafkajs / kcat|gzip (stages-only: gzip -6 of a file) baseline. */
  vsKafkajs: number | null
  vsKcatGzip: number | null
  /** The same ratios with the wall time from process start (join included). */
  vsKafkajsFromStart: number | null
  vsKcatGzipFromStart: number | null
  /** CPU seconds from process start per million messages, the S3 server's CPU during the run included. */
  cpuPerMillion: number | null
}

export interface TargetResult {
  id: string
  text: string
  measured: string
  met: boolean | null
}

export interface BenchResults {
  version: 1
  startedAt: string
  finishedAt: string
  command: string
  mode: 'quick' | 'full'
  complete: boolean
  machine: Record<string, unknown>
  scenarios: ScenarioRecord[]
  summary: SummaryRow[]
  targets: TargetResult[]
  profiles: Array<ProfileSummary & { scenario: string, run: RunRecord }>
}

/** Best successful run of a pipeline (highest throughput: least disturbed on a noisy machine). */
export function best (runs: RunRecord[], pipeline: PipelineName): RunRecord | undefined {
  const of = runs.filter((r) => r.pipeline === pipeline && r.profiled !== true)
  const ok = of.filter((r) => r.ok)
  if (ok.length === 0) return of[of.length - 1]
  return ok.reduce((a, b) => (b.mbPerSec > a.mbPerSec ? b : a))
}

export function summarize (scenarios: ScenarioRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = []
  for (const s of scenarios) {
    const kafkajs = best(s.runs, 'kafkajs-raw')
    const shell = best(s.runs, 'kcat-gzip') ?? best(s.runs, 'gzip-file')
    const zstdShell = best(s.runs, 'kcat-zstd') ?? best(s.runs, 'zstd-file')
    const order: PipelineName[] = ['sediment', 'service-w1', 'service-w2', 'sediment-zstd', 'sediment-parquet', 'kafkajs-raw', 'kcat-gzip', 'kcat-zstd', 'gzip-file', 'zstd-file', 'sink-paced', 'sink-burst']
    for (const p of order) {
      const r = best(s.runs, p)
      if (r === undefined) continue
      const ratio = (base: RunRecord | undefined): number | null =>
        r.ok && base?.ok === true && base.mbPerSec > 0 && p !== 'sink-paced' && p !== 'sink-burst' ? r.mbPerSec / base.mbPerSec : null
      const ratioFromStart = (base: RunRecord | undefined): number | null =>
        r.ok && base?.ok === true && r.mbPerSecFromStart !== undefined && base.mbPerSecFromStart !== undefined && base.mbPerSecFromStart > 0 && p !== 'sink-paced' && p !== 'sink-burst'
          ? r.mbPerSecFromStart / base.mbPerSecFromStart
          : null
      // The zstd rows are compared with the zstd shell pipeline: like with like.
      const sameCodec = p === 'sediment-zstd' || p.startsWith('kcat-zstd') || p === 'zstd-file' ? zstdShell : shell
      const cpu = r.cpuFromStartSeconds ?? r.cpuSeconds
      const cpuPerMillion = r.ok && cpu !== null && cpu !== undefined && r.messages > 0 ? ((cpu + (r.s3CpuSeconds ?? 0)) / r.messages) * 1e6 : null
      rows.push({
        ...r,
        scenario: s.name,
        vsKafkajs: ratio(kafkajs),
        vsKcatGzip: ratio(sameCodec),
        vsKafkajsFromStart: ratioFromStart(kafkajs),
        vsKcatGzipFromStart: ratioFromStart(sameCodec),
        cpuPerMillion
      })
    }
  }
  return rows
}

const MB = 1e6

function num (n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function formatTable (rows: SummaryRow[]): string {
  const head = [
    'scenario', 'pipeline', 's from start / from 1st batch', 'MB/s ³', '× kafkajs ³', '× kcat\\|gzip ¹ ³ (zstd rows: × kcat\\|zstd)',
    'CPU s from start (window)', 'CPU s / M msgs ⁴', 'peak RSS MB', 'broker / S3 CPU s', 'other load ²',
    'files (max open)', 'MB out', 'comp. ratio', 'cut→commit ms p50 / p95 / max'
  ]
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i < 2 ? '---' : '--:')).join(' | ')} |`]
  const pair = (a: number | null | undefined, b: number | null | undefined, digits: number): string =>
    a === null || a === undefined ? num(b, digits) : `${num(a, digits)} / ${num(b, digits)}`
  for (const r of rows) {
    const sink = r.pipeline === 'sink-paced' || r.pipeline === 'sink-burst'
    const c = r.cutToCommitMs
    const cpuStart = r.cpuFromStartSeconds ?? null
    const cells = [
      r.scenario,
      PIPELINE_LABELS[r.pipeline] + (r.ok ? '' : ` **FAILED: ${(r.error ?? '').replace(/\|/g, '/').slice(0, 80)}**`),
      r.ok ? pair(r.fromStartMs === undefined ? null : r.fromStartMs / 1000, r.elapsedMs / 1000, 1) : '—',
      r.ok ? pair(sink ? null : r.mbPerSecFromStart, r.mbPerSec, 1) : '—',
      pair(r.vsKafkajsFromStart, r.vsKafkajs, 2),
      pair(r.vsKcatGzipFromStart, r.vsKcatGzip, 2),
      cpuStart === null ? num(r.cpuSeconds, 1) : `${num(cpuStart, 1)} (${num(r.cpuSeconds, 1)})`,
      sink ? '—' : num(r.cpuPerMillion, 1),
      num(r.peakRssMB),
      r.brokerCpuSeconds === undefined && r.s3CpuSeconds === undefined ? '—' : `${num(r.brokerCpuSeconds, 1)} / ${num(r.s3CpuSeconds, 1)}`,
      num(r.otherCores, 1),
      r.maxOpenFiles === undefined ? num(r.files) : `${num(r.files)} (${num(r.maxOpenFiles)})`,
      r.bytesWritten === undefined ? '—' : num(r.bytesWritten / MB, 1),
      num(r.compressionRatio, 2),
      c === null || c === undefined ? '—' : c.count === 1 ? num(c.max) : `${num(c.p50)} / ${num(c.p95)} / ${num(c.max)}`
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  lines.push('')
  lines.push('¹ stages-only: × `gzip -6` of the same JSON lines read from a file (one core, no Kafka). MB = 10^6 bytes of message values (input). ' +
    'CPU s and peak RSS are those of the measured process, all threads (kcat | gzip: both processes, from GNU time); broker / S3 CPU s is what the mock broker and s3rver used meanwhile. ' +
    'cut→commit: CommitEvent.durationMs, from the cut to the objects being visible.')
  lines.push('')
  lines.push('² other load: cores kept busy by other work on the machine during the run (machine busy time from /proc/stat minus the run\'s process, the broker and the S3 server, per second of the run). The machine has 2 cores: a run with other load ≳ 0.5 shared its CPU and is slower than it would be alone.')
  lines.push('')
  lines.push('³ "a / b": a from process start (module loading, connecting and the mock broker\'s ~3 s group join included; kcat: from spawn, with `-G`), b from the first batch (kcat: from its group assignment) until every offset is committed and visible (Sediment) or every message read (baselines). The ratios are throughput ratios measured in the same run on the same topic.')
  lines.push('')
  lines.push('⁵ the service as the CLI runs it (config defaults, runSediment) with 1 or 2 pipelines (worker threads); its clocks come from its own /metrics (sediment_messages_in_total, polled every 250 ms): first batch = first message in; when all are in it is stopped as by SIGTERM (flush, commit, leave) and ends when the service has returned.')
  lines.push('')
  lines.push('⁴ CPU s from process start (all threads of the measured process; kcat | gzip: both processes) plus the S3 server\'s CPU during the run, per million messages; the mock broker\'s CPU is not counted (it stands in for Kafka).')
  return lines.join('\n')
}

export function evaluateTargets (rows: SummaryRow[], scenarios: ScenarioRecord[]): TargetResult[] {
  const row = (scenario: string, pipeline: PipelineName): SummaryRow | undefined => rows.find((r) => r.scenario === scenario && r.pipeline === pipeline)
  const maxRss = (scenario: string): number | null => {
    const runs = scenarios.find((s) => s.name === scenario)?.runs.filter((r) => r.pipeline === 'sediment' && r.ok && r.profiled !== true) ?? []
    const values = runs.map((r) => r.peakRssMB).filter((v): v is number => v !== null)
    return values.length === 0 ? null : Math.max(...values)
  }
  const steady = row('steady', 'sediment')
  const stages = row('stages-only', 'sediment')
  const stagesZstd = row('stages-only', 'sediment-zstd')
  const paced = row('cut-to-commit', 'sink-paced')
  const burst = row('cut-to-commit', 'sink-burst')
  const steadyRss = maxRss('steady')
  const wideRss = maxRss('wide')
  const cut = paced?.ok === true ? paced.cutToCommitMs?.max ?? null : null
  const burstCut = burst?.ok === true ? burst.cutToCommitMs?.max ?? null : null
  const judge = (value: number | null | undefined, ok: (v: number) => boolean): boolean | null =>
    value === null || value === undefined ? null : ok(value)
  return [
    {
      id: 'steady-vs-kafkajs',
      text: 'steady end-to-end ≥ 0.8× raw kafkajs consumption',
      measured: steady?.vsKafkajs == null ? 'not measured' : `${num(steady.vsKafkajs, 2)}×`,
      met: judge(steady?.vsKafkajs, (v) => v >= 0.8)
    },
    {
      id: 'steady-vs-kcat',
      text: 'steady end-to-end ≥ 0.5× kcat | gzip -6',
      measured: steady?.vsKcatGzip == null ? 'not measured' : `${num(steady.vsKcatGzip, 2)}×`,
      met: judge(steady?.vsKcatGzip, (v) => v >= 0.5)
    },
    {
      id: 'stages-throughput',
      text: 'stages-only ≥ 150 MB/s of input',
      measured: stages?.ok === true
        ? `${num(stages.mbPerSec, 1)} MB/s with gzip -6 (the default)${stagesZstd?.ok === true ? `; ${num(stagesZstd.mbPerSec, 1)} MB/s with zstd -3` : ''}`
        : 'not measured',
      met: stages?.ok === true ? stages.mbPerSec >= 150 : null
    },
    {
      id: 'steady-rss',
      text: 'peak RSS ≤ 250 MB in steady',
      measured: steadyRss === null ? 'not measured' : `${num(steadyRss)} MB`,
      met: judge(steadyRss, (v) => v <= 250)
    },
    {
      id: 'wide-rss',
      text: 'peak RSS ≤ 400 MB in wide',
      measured: wideRss === null ? 'not measured' : `${num(wideRss)} MB`,
      met: judge(wideRss, (v) => v <= 400)
    },
    {
      id: 'cut-to-commit',
      text: "a 100 MB file's cut-to-commit ≤ 2 s against the local S3 server (paced: uploads keep up with the input)",
      measured: cut === null ? 'not measured' : `${num(cut)} ms (burst, whole file written at once: ${num(burstCut)} ms)`,
      met: judge(cut, (v) => v <= 2000)
    }
  ]
}

export function formatTargets (targets: TargetResult[]): string {
  return targets.map((t) => `- ${t.met === null ? '❔ not measured' : t.met ? '✅ met' : '❌ missed'} — ${t.text}: **${t.measured}**`).join('\n')
}

export function formatMachine (m: Record<string, unknown>): string {
  const load = (m.loadAverage as { start: number[], end?: number[] } | undefined)
  const fmt = (l: number[] | undefined): string => l === undefined ? '?' : l.map((x) => x.toFixed(2)).join(' ')
  return `${String(m.cpus)} × ${String(m.cpuModel)}, ${String(m.memoryGB)} GB RAM, Node ${String(m.node)}, ${String(m.kcat)}, git ${String(m.git)}, ` +
    `load average ${fmt(load?.start)} at start, ${fmt(load?.end)} at end. Shared and noisy: compare the ratios (measured side by side in one run), not the absolute numbers.`
}

export function formatReport (r: BenchResults): string {
  const parts = [
    `Command: \`${r.command}\` (${r.mode} mode${r.complete ? '' : ', partial'}), ${r.startedAt} → ${r.finishedAt}`,
    '',
    `Machine: ${formatMachine(r.machine)}`,
    '',
    formatTable(r.summary),
    '',
    'Targets:',
    '',
    formatTargets(r.targets)
  ]
  for (const p of r.profiles) {
    parts.push('', `Profile of ${p.scenario} (a separate run with --cpu-prof: ${num(p.run.mbPerSec, 1)} MB/s under the profiler):`, '', formatProfile(p))
  }
  return parts.join('\n')
}

/** Replaces the README section of this mode (between its markers) with the report. */
export async function updateReadme (file: string, r: BenchResults, resultFile: string): Promise<void> {
  const start = `<!-- bench:${r.mode}:start -->`
  const end = `<!-- bench:${r.mode}:end -->`
  const text = await readFile(file, 'utf8')
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  if (i === -1 || j === -1 || j < i) throw new Error(`${file} has no ${start} … ${end} section`)
  const body = `${start}\n_Generated by the harness; machine-readable: \`${resultFile}\`._\n\n${formatReport(r)}\n${end}`
  await writeFile(file, text.slice(0, i) + body + text.slice(j + end.length))
}
