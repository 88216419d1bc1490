/**
 * One measured pipeline, in its own process (so peak RSS and CPU seconds belong to it alone):
 *
 *   node --import tsx bench/worker.ts '<Job as JSON>'
 *
 * Started by main.ts with an IPC channel: progress and the result go back as WorkerMessage. Bounded by
 * job.timeoutMs (it then reports what it has, with `error`).
 */
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { readdirSync, writeFileSync } from 'node:fs'
import { findSourceMap } from 'node:module'
import { join, resolve } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { Kafka, logLevel } from 'kafkajs'
import {
  ObjectSink, S3Store, createLogger, encode, kafkaSource, parseJson, partitionByTime,
  type CommitEvent, type EncodedBatch, type KafkaRecord, type OffsetCommitter, type PipelineItem, type RecordBatch
} from '../src/index.js'
import { TIMESTAMP_FIELD, generate } from './data.js'
import type { Job, KafkajsJob, OutputSettings, SedimentJob, ServiceJob, SinkCutJob, StagesJob, WorkerMessage, WorkerResult } from './jobs.js'
import { validateConfig } from '../src/config/options.js'
import { runSediment as runSedimentService } from '../src/workers/index.js'
import { monotonicMicros, peakRssBytes, selfCpuSeconds } from './measure.js'

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..')
const logger = createLogger({ level: 'warn', destination: process.stderr })

function send (message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      if (message.type === 'result') console.log(JSON.stringify(message.result))
      resolve()
      return
    }
    process.send(message, undefined, {}, () => { resolve() })
  })
}

/** Start and end of the measured window: wall clock, CPU and the profiler's clock. */
class Window {
  #t0 = 0
  #cpu0 = 0
  #us0 = 0
  #t1 = 0
  #cpu1 = 0
  #us1 = 0
  #sinceStart = 0
  #cpuAtStop = 0
  started = false

  start (): void {
    if (this.started) return
    this.started = true
    this.#t0 = performance.now()
    this.#cpu0 = selfCpuSeconds()
    this.#us0 = monotonicMicros()
  }

  stop (): void {
    if (!this.started) this.start()
    this.#t1 = performance.now()
    this.#cpu1 = selfCpuSeconds()
    this.#us1 = monotonicMicros()
    // performance.now() counts from the process's time origin (its start), so this is wall time from process start
    this.#sinceStart = this.#t1
    this.#cpuAtStop = this.#cpu1
  }

  get sinceStartMs (): number { return this.#sinceStart }
  get cpuSinceStart (): number { return this.#cpuAtStop }

  get elapsedMs (): number { return this.#t1 - this.#t0 }
  get cpuSeconds (): number { return this.#cpu1 - this.#cpu0 }
  get micros (): [number, number] { return [this.#us0, this.#us1] }
}

function baseResult (w: Window, messages: number, inputBytes: number): WorkerResult {
  return {
    messages, inputBytes, elapsedMs: w.elapsedMs, cpuSeconds: w.cpuSeconds, processCpuSeconds: selfCpuSeconds(), peakRssBytes: peakRssBytes(), windowMicros: w.micros,
    sinceStartMs: w.sinceStartMs, cpuSinceStartSeconds: w.cpuSinceStart
  }
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

// ---------------------------------------------------------------------------------------------------------------
// End to end: the library API, Kafka (mock cluster) → parse → partition → gzip → ObjectSink on S3 (s3rver).

async function runSediment (job: SedimentJob): Promise<WorkerResult> {
  const source = kafkaSource({ brokers: job.brokers, groupId: job.groupId, topics: [job.topic], logger })
  const store = new S3Store({
    bucket: job.s3.bucket, endpoint: job.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: job.s3.credentials
  })
  const sink = new ObjectSink({
    store,
    committer: source,
    logger,
    prefix: job.prefix,
    maxFileBytes: job.sink.maxFileBytes,
    maxFileAgeSeconds: job.sink.maxFileAgeSeconds,
    ...(job.sink.partSizeBytes !== undefined ? { partSizeBytes: job.sink.partSizeBytes } : {})
  })
  const cutToCommit: number[] = []
  let files = 0
  let bytesWritten = 0
  let encodedBytes = 0
  let commits = 0
  let recordsCommitted = 0
  sink.events.on('commit', (e: CommitEvent) => {
    commits++
    cutToCommit.push(e.durationMs)
    for (const f of e.files) {
      files++
      bytesWritten += f.bytes
      encodedBytes += f.encodedBytes
      recordsCommitted += f.records
    }
  })

  const w = new Window()
  const startedAt = performance.now()
  let joinMs = 0
  let read = 0
  let readBytes = 0
  let readMs: number | undefined
  let rssAtEndOfInput: number | null = null
  const done = pipeline(source, parseJson({ timestampField: TIMESTAMP_FIELD }), partitionByTime(), encoder(job.output), sink)
  // An extra 'data' listener only observes: the pipe above still drives the flow and the backpressure.
  source.on('data', (item: PipelineItem) => {
    if (item.kind !== 'batch') return
    if (!w.started) {
      w.start()
      joinMs = performance.now() - startedAt
    }
    read += item.records.length
    readBytes += item.rawBytes
    if (read >= job.expected && readMs === undefined) {
      readMs = performance.now() - startedAt - joinMs
      rssAtEndOfInput = peakRssBytes()
      source.endInput() // the sink then cuts and commits what it holds
    }
  })

  let samples = 0
  let pausedSamples = 0
  let maxOpenFiles = 0
  let maxBufferedBytes = 0
  const sampler = setInterval(() => {
    if (!w.started) return
    samples++
    if (source.paused) pausedSamples++
    const s = sink.stats()
    if (s.openFiles > maxOpenFiles) maxOpenFiles = s.openFiles
    if (s.bufferedBytes > maxBufferedBytes) maxBufferedBytes = s.bufferedBytes
  }, 50)
  const progress = setInterval(() => {
    const s = sink.stats()
    void send({
      type: 'progress',
      done: read,
      total: job.expected,
      bytes: readBytes,
      extra: `committed ${recordsCommitted.toLocaleString('en-US')} in ${commits} cuts, open files ${s.openFiles}, buffered ${(s.bufferedBytes / 1e6).toFixed(1)} MB`
    })
  }, job.progressMs)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    source.destroy(new Error(`timed out after ${job.timeoutMs} ms`))
  }, job.timeoutMs)

  let error: string | undefined
  try {
    await source.start()
    await done
  } catch (err) {
    error = timedOut ? `timed out after ${job.timeoutMs} ms` : errorText(err)
  } finally {
    w.stop()
    clearTimeout(timer)
    clearInterval(sampler)
    clearInterval(progress)
  }
  await source.close().catch(() => {})
  await store.close().catch(() => {})
  if (error === undefined && recordsCommitted !== job.expected) {
    error = `committed ${recordsCommitted} records, expected ${job.expected}`
  }
  return {
    ...baseResult(w, read, readBytes),
    joinMs,
    ...(readMs !== undefined ? { readMs } : {}),
    peakRssAtEndOfInputBytes: rssAtEndOfInput,
    files,
    bytesWritten,
    encodedBytes,
    commits,
    recordsCommitted,
    cutToCommitMs: cutToCommit,
    maxOpenFiles,
    maxBufferedBytes,
    sourcePausedFraction: samples === 0 ? 0 : pausedSamples / samples,
    ...(error !== undefined ? { error } : {})
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The service as the CLI runs it (config, runSediment), with `workers` pipelines in worker threads. The pipelines
// live in other threads, so progress comes from the service's own /metrics (sediment_messages_in_total, all
// workers summed), polled every 250 ms: the first message in starts the window, all of them in is the end of
// input, on which the run is stopped like SIGTERM (the sink flushes and commits everything, then it ends).

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return port
}

async function messagesIn (url: string): Promise<number> {
  try {
    const text = await (await fetch(url)).text()
    let n = 0
    for (const line of text.split('\n')) if (line.startsWith('sediment_messages_in_total{')) n += Number(line.slice(line.lastIndexOf(' ') + 1))
    return n
  } catch {
    return 0
  }
}

async function runServiceJob (job: ServiceJob): Promise<WorkerResult> {
  const port = await freePort()
  const config = validateConfig({
    kafka: { brokers: job.brokers, groupId: job.groupId, topics: [job.topic], autoOffsetReset: 'earliest' },
    parser: { type: 'json', timestampField: TIMESTAMP_FIELD },
    upload: { maxFileBytes: job.sink.maxFileBytes, maxFileAgeSeconds: job.sink.maxFileAgeSeconds },
    sink: { type: 's3', bucket: job.s3.bucket, prefix: job.prefix, endpoint: job.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: job.s3.credentials },
    log: { level: 'warn' },
    metrics: { host: '127.0.0.1', port, lagIntervalSeconds: 60 },
    workers: job.workers
  })
  const url = `http://127.0.0.1:${port}/metrics`
  const controller = new AbortController()
  const w = new Window()
  const startedAt = performance.now()
  let joinMs = 0
  let readMs: number | undefined
  let read = 0
  let error: string | undefined
  const service = runSedimentService(config, { logger, signal: controller.signal })
  const ended = service.then(() => 'stopped' as const, (err: unknown) => { error = errorText(err); return 'failed' as const })
  const deadline = Date.now() + job.timeoutMs
  const admin = new Kafka({ clientId: 'sediment-bench-watch', brokers: job.brokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  const committedNow = async (): Promise<number> => {
    const [t] = await admin.fetchOffsets({ groupId: job.groupId, topics: [job.topic] })
    return (t?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
  }
  let committed = 0
  let leaveMs: number | undefined
  let stopped = false
  try {
    while (!controller.signal.aborted) {
      if (Date.now() > deadline) { error = `timed out after ${job.timeoutMs} ms`; break }
      if (await Promise.race([ended, sleep(250, 'tick' as const)]) !== 'tick') { error ??= 'the service stopped on its own'; break }
      read = await messagesIn(url)
      if (read > 0 && !w.started) {
        w.start()
        joinMs = performance.now() - startedAt
      }
      void send({ type: 'progress', done: read, total: job.expected, bytes: 0, extra: `${job.workers} workers` })
      if (read >= job.expected) {
        readMs = performance.now() - startedAt - joinMs
        controller.abort() // end of input: flush, commit, leave the group (the SIGTERM path)
      }
    }
    controller.abort()
    // The run ends when everything is committed (as the library runs end); leaving the group comes after.
    while (error === undefined && Date.now() < deadline) {
      committed = await committedNow()
      if (committed >= job.expected) break
      if (await Promise.race([ended, sleep(100, 'tick' as const)]) !== 'tick') { committed = await committedNow(); break }
    }
    w.stop()
    stopped = true
    const t0 = performance.now()
    await ended
    leaveMs = performance.now() - t0
  } finally {
    if (!stopped) w.stop()
    await admin.disconnect().catch(() => {})
  }
  if (error === undefined && committed !== job.expected) error = `committed ${committed} records, expected ${job.expected}`
  // input bytes: the topic's message values, as the other pipelines count them (the orchestrator knows them)
  return {
    ...baseResult(w, read, 0),
    joinMs,
    ...(readMs !== undefined ? { readMs } : {}),
    recordsCommitted: committed,
    ...(leaveMs !== undefined ? { notes: [`the service returned ${(leaveMs / 1000).toFixed(1)} s after everything was committed (leaving the group)`] } : {}),
    ...(error !== undefined ? { error } : {})
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Baseline: raw kafkajs consumption, eachBatch does nothing but count.

async function runKafkajs (job: KafkajsJob): Promise<WorkerResult> {
  const kafka = new Kafka({ clientId: 'sediment-bench-raw', brokers: job.brokers, logLevel: logLevel.NOTHING })
  // The same consumer settings as the Kafka source (kafka-source.ts), so only the work per batch differs.
  const consumer = kafka.consumer({
    groupId: job.groupId, sessionTimeout: 30_000, heartbeatInterval: 3000, rebalanceTimeout: 60_000,
    maxBytesPerPartition: 1024 * 1024, allowAutoTopicCreation: false
  })
  const w = new Window()
  const startedAt = performance.now()
  let joinMs = 0
  let read = 0
  let readBytes = 0
  let finish: () => void = () => {}
  const allRead = new Promise<void>((resolve) => { finish = resolve })
  const progress = setInterval(() => {
    void send({ type: 'progress', done: read, total: job.expected, bytes: readBytes })
  }, job.progressMs)
  let error: string | undefined
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [job.topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!w.started) {
          w.start()
          joinMs = performance.now() - startedAt
        }
        read += batch.messages.length
        for (const m of batch.messages) readBytes += m.value?.length ?? 0
        if (read >= job.expected) finish()
      }
    })
    const timeout = sleep(job.timeoutMs, 'timeout' as const)
    if (await Promise.race([allRead.then(() => 'done' as const), timeout]) === 'timeout') error = `timed out after ${job.timeoutMs} ms`
  } catch (err) {
    error = errorText(err)
  } finally {
    w.stop()
    clearInterval(progress)
  }
  await consumer.disconnect().catch(() => {})
  return { ...baseResult(w, read, readBytes), joinMs, ...(error !== undefined ? { error } : {}) }
}

// ---------------------------------------------------------------------------------------------------------------
// Stages only: an in-memory source of RecordBatches → parse → partition → gzip → a null sink.

const NO_HEADERS: KafkaRecord['headers'] = Object.freeze({})

/** Batches as kafkajs delivers them: per partition up to `batchBytes`, partitions taking turns. */
function buildBatches (job: StagesJob): { batches: RecordBatch[], messages: number, bytes: number } {
  const perPartition: KafkaRecord[][] = Array.from({ length: job.data.partitions }, () => [])
  let messages = 0
  let bytes = 0
  for (const m of generate(job.data)) {
    const list = perPartition[m.partition] as KafkaRecord[]
    list.push({ offset: list.length, key: null, value: m.value, timestamp: 0, headers: NO_HEADERS })
    messages++
    bytes += m.value.length
  }
  const queues: RecordBatch[][] = perPartition.map((records, partition) => {
    const out: RecordBatch[] = []
    for (let i = 0; i < records.length;) {
      const batch: KafkaRecord[] = []
      let raw = 0
      while (i < records.length && (batch.length === 0 || raw < job.batchBytes)) {
        const r = records[i++] as KafkaRecord
        raw += (r.value as Buffer).length
        batch.push(r)
      }
      const first = batch[0] as KafkaRecord
      const last = batch[batch.length - 1] as KafkaRecord
      out.push({ kind: 'batch', topic: 'bench', partition, epoch: 1, firstOffset: first.offset, nextOffset: last.offset + 1, rawBytes: raw, records: batch })
    }
    return out
  })
  const batches: RecordBatch[] = []
  for (let round = 0; batches.length < queues.reduce((n, q) => n + q.length, 0); round++) {
    for (const q of queues) {
      const b = q[round]
      if (b !== undefined) batches.push(b)
    }
  }
  return { batches, messages, bytes }
}

/** The encode stage for a job's output (default: JSON lines, gzip -6, as the service). */
function encoder (output: OutputSettings | undefined): ReturnType<typeof encode> {
  if (output === undefined) return encode({ format: 'jsonl', compression: 'gzip', compressionLevel: 6 })
  return encode({ format: output.format, compression: output.compression, ...(output.level !== undefined ? { compressionLevel: output.level } : {}) })
}

async function runStages (job: StagesJob): Promise<WorkerResult> {
  const { batches, messages, bytes } = buildBatches(job)
  let next = 0
  let read = 0
  let readBytes = 0
  const source = new Readable({
    objectMode: true,
    highWaterMark: 4,
    read () {
      const b = batches[next]
      if (b === undefined) {
        this.push(null)
        return
      }
      batches[next++] = undefined as unknown as RecordBatch // let the batch go once it is consumed
      read += b.records.length
      readBytes += b.rawBytes
      this.push(b)
    }
  })
  const dirs = new Set<string>()
  let bytesWritten = 0
  let encodedBytes = 0
  const sink = new Writable({
    objectMode: true,
    highWaterMark: 4,
    write (item: PipelineItem, _enc, callback) {
      if (item.kind === 'encoded') {
        for (const g of (item as EncodedBatch).groups) {
          dirs.add(`${item.partition}/${g.dir}`)
          bytesWritten += g.data.length
          encodedBytes += g.encodedBytes
        }
      }
      callback()
    }
  })
  const progress = setInterval(() => {
    void send({ type: 'progress', done: read, total: messages, bytes: readBytes })
  }, job.progressMs)
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort() }, job.timeoutMs)
  const w = new Window()
  w.start()
  let error: string | undefined
  try {
    await pipeline(source, parseJson({ timestampField: TIMESTAMP_FIELD }), partitionByTime(), encoder(job.output), sink, { signal: controller.signal })
  } catch (err) {
    error = controller.signal.aborted ? `timed out after ${job.timeoutMs} ms` : errorText(err)
  } finally {
    w.stop()
    clearTimeout(timer)
    clearInterval(progress)
  }
  if (error === undefined && read !== messages) error = `read ${read} of ${messages} messages`
  return {
    ...baseResult(w, read, readBytes),
    files: dirs.size,
    bytesWritten,
    encodedBytes,
    notes: [`${messages.toLocaleString('en-US')} messages (${(bytes / 1e6).toFixed(1)} MB) pre-generated before the clock starts; "files" = distinct (partition, directory) pairs`],
    ...(error !== undefined ? { error } : {})
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The sink alone: one big file into ObjectSink + S3Store; the commit is an in-process no-op (not Kafka).

async function runSinkCut (job: SinkCutJob): Promise<WorkerResult> {
  const store = new S3Store({
    bucket: job.s3.bucket, endpoint: job.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: job.s3.credentials
  })
  const committer: OffsetCommitter = { epoch: 1, commit: async () => {} }
  const partSize = 8 * 1024 * 1024 // the service default (upload.partSizeBytes)
  const sink = new ObjectSink({
    store, committer, logger, prefix: `cut-${job.mode}`, maxFileBytes: job.fileBytes, maxFileAgeSeconds: 3600, partSizeBytes: partSize
  })
  // One incompressible gzip member, reused: the sink and the store only move and hash bytes.
  const chunk = gzipSync(randomBytes(job.chunkBytes), { level: 1 })
  const chunks = Math.ceil(job.fileBytes / chunk.length)
  const events: CommitEvent[] = []
  let committed: () => void = () => {}
  const commitSeen = new Promise<void>((resolve) => { committed = resolve })
  let commitAt = 0
  sink.events.on('commit', (e: CommitEvent) => { commitAt = performance.now(); events.push(e); committed() })

  const w = new Window()
  let written = 0
  let lastWriteAt = 0
  const progress = setInterval(() => {
    const s = sink.stats()
    void send({ type: 'progress', done: written, total: chunks, bytes: written * chunk.length, extra: `buffered ${(s.bufferedBytes / 1e6).toFixed(1)} MB` })
  }, job.progressMs)
  const deadline = Date.now() + job.timeoutMs
  let error: string | undefined
  try {
    sink.write({ kind: 'assignment', epoch: 1, partitions: [{ topic: 'bench', partition: 0, committedOffset: null, metadata: null }] })
    w.start()
    for (let i = 0; i < chunks; i++) {
      if (Date.now() > deadline) throw new Error(`timed out after ${job.timeoutMs} ms`)
      if (job.mode === 'paced') {
        // uploads have caught up: nothing in flight, less than one part pending
        while (sink.stats().bufferedBytes >= partSize && Date.now() < deadline) await sleep(2)
      }
      const firstOffset = i * 1000
      const item: EncodedBatch = {
        kind: 'encoded',
        topic: 'bench',
        partition: 0,
        epoch: 1,
        firstOffset,
        nextOffset: firstOffset + 1000,
        rawBytes: chunk.length,
        groups: [{
          dir: 'bench/dt=2026-11-20/hr=00', extension: '.jsonl.gz', firstOffset, lastOffset: firstOffset + 999, records: 1000, encodedBytes: chunk.length, data: chunk
        }]
      }
      lastWriteAt = performance.now()
      if (!sink.write(item)) await new Promise<void>((resolve) => sink.once('drain', resolve))
      written++
    }
    const timeout = sleep(Math.max(0, deadline - Date.now()), 'timeout' as const)
    if (await Promise.race([commitSeen.then(() => 'done' as const), timeout]) === 'timeout') throw new Error(`no commit within ${job.timeoutMs} ms`)
    w.stop()
    sink.end()
    await finished(sink)
  } catch (err) {
    error = errorText(err)
    w.stop()
    sink.destroy()
  } finally {
    clearInterval(progress)
  }
  const e = events[0]
  const file = e?.files[0]
  const notes: string[] = []
  if (e !== undefined && file !== undefined) {
    const size = await store.size(file.key).catch(() => null)
    if (size !== file.bytes) error ??= `object ${file.key} has ${String(size)} bytes, expected ${file.bytes}`
    notes.push(`cut reason ${e.reason}; ${file.parts.length} parts of ${partSize / 1048576} MiB; last write → commit event ${(commitAt - lastWriteAt).toFixed(0)} ms`)
  }
  await store.close().catch(() => {})
  return {
    ...baseResult(w, written, written * chunk.length),
    files: e?.files.length ?? 0,
    bytesWritten: file?.bytes ?? 0,
    encodedBytes: file?.encodedBytes ?? 0,
    commits: events.length,
    cutToCommitMs: events.map((x) => x.durationMs),
    notes,
    ...(error !== undefined ? { error } : {})
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** For profiles: the source maps of the TypeScript this process loaded (tsx), keyed by file URL. */
function dumpSourceMaps (out: string): void {
  const maps: Record<string, unknown> = {}
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name)
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'results') walk(p)
      } else if (entry.name.endsWith('.ts')) {
        const url = pathToFileURL(p).href
        const map = findSourceMap(url)
        if (map !== undefined) maps[url] = map.payload
      }
    }
  }
  walk(join(ROOT, 'src'))
  walk(join(ROOT, 'bench'))
  writeFileSync(out, JSON.stringify(maps))
}

async function main (): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as Job
  let result: WorkerResult
  switch (job.kind) {
    case 'sediment': result = await runSediment(job); break
    case 'service': result = await runServiceJob(job); break
    case 'kafkajs-raw': result = await runKafkajs(job); break
    case 'stages': result = await runStages(job); break
    case 'sink-cut': result = await runSinkCut(job); break
    default: throw new Error(`unknown job ${JSON.stringify(job)}`)
  }
  if (job.sourceMapsOut !== undefined) dumpSourceMaps(job.sourceMapsOut)
  await send({ type: 'result', result })
}

main().then(() => { process.exit(0) }, (err: unknown) => {
  console.error(err)
  process.exit(1)
})
