/**
 * `sediment restore`: archived objects of a topic back into a Kafka topic.
 *
 *   select objects (time directories or manifests) → for each, in order: object stream → inflate → record
 *   splitter → producer sink (batches, acks=all, idempotent producer), all in one stream/promises pipeline.
 *
 * Resuming without duplicates. Objects are restored one at a time in a fixed plan order, and every record of an
 * object goes to one target partition. Before an object's first record is sent, the target partition's high
 * watermark H is saved as the object's `startOffset`; after a crash, the records of that object already in Kafka
 * are exactly `watermark now - startOffset`, which the restarted run skips (they are a prefix: batches of a
 * partition are sent one after another and the idempotent producer never duplicates nor reorders within a run).
 * Assumption: nothing else writes to the target partitions during the restore. A watermark that has grown by
 * more than the object holds breaks it and stops the restore with an error rather than guess.
 */
import { pipeline } from 'node:stream/promises'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import type { Logger } from 'pino'
import type { SedimentConfig } from '../config/types.js'
import { crashPoint } from '../crash-points.js'
import { ErrorCodes, SedimentError, errorMessage, type ErrorCode } from '../errors.js'
import { retry } from '../retry.js'
import type { ObjectStore } from '../sinks/object-store.js'
import { CheckpointStore } from './checkpoint.js'
import { LOSSY_FORMAT, objectFormat } from './format.js'
import { codecOf, inflater } from './inflate.js'
import { objectOpener, type ObjectOpener } from './object-stream.js'
import type { RecordDecoder } from './decode.js'
import { mergeByOffset } from './merge.js'
import { ProducerSink } from './producer-sink.js'
import { restoreUnits, selectObjects, type RestoreRange, type SourceObject } from './select.js'
import { recordSplitter } from './split.js'
import { connectTarget, type RestoreTarget } from './target.js'

export type Partitioning = 'source' | 'modulo'

/** Errors a retry cannot cure: a bad request, a broken assumption, unreadable data, a shutdown. */
const PERMANENT = new Set<ErrorCode>([ErrorCodes.CONFIG, ErrorCodes.STATE, ErrorCodes.PARSE, ErrorCodes.SHUTDOWN])

export interface RestoreOptions {
  /** The archiver's configuration: sink (where the archive is), prefix, partition template, output.wrap, Kafka. */
  config: SedimentConfig
  sourceTopic: string
  /** Must exist; default: the source topic. */
  targetTopic?: string
  range: RestoreRange
  /** Count what would be produced; nothing is sent or saved. */
  dryRun?: boolean
  /** `source` (default): record of source partition p → target partition p; `modulo`: p mod (target partitions). */
  partitioning?: Partitioning
  /** Allow formats without key/headers/timestamp (values only). */
  valuesOnly?: boolean
  /** Default config.output.wrap. */
  wrap?: boolean
  /** Archive store (listing, manifests); default from config.sink. */
  store?: ObjectStore
  /** Where progress is kept; default `store`. */
  checkpointStore?: ObjectStore
  opener?: ObjectOpener
  /** Default: a kafkajs producer and admin for config.kafka. */
  target?: RestoreTarget
  /** Idempotent producer (default true), see TargetOptions. */
  idempotent?: boolean
  logger?: Logger
  onProgress?: (p: RestoreStats) => void
  progressIntervalMs?: number
  signal?: AbortSignal
  batchRecords?: number
  batchBytes?: number
  /** Attempts per object before the restore fails (default 8; a rerun resumes). */
  maxAttempts?: number
}

export interface RestoreStats {
  objects: number
  objectsDone: number
  /** Records sent to Kafka (or that would be, dry run). */
  records: number
  /** Records found already in Kafka from an interrupted run and not sent again. */
  skipped: number
  /** Compressed bytes read from the archive. */
  bytes: number
  elapsedMs: number
  recordsPerSecond: number
  dryRun: boolean
  done: boolean
}

export async function restore (options: RestoreOptions): Promise<RestoreStats> {
  const { config, sourceTopic, range } = options
  const targetTopic = options.targetTopic ?? sourceTopic
  const dryRun = options.dryRun === true
  const wrap = options.wrap ?? config.output.wrap === true
  const log = options.logger?.child({ component: 'restore' })
  const started = Date.now()
  const stats: RestoreStats = { objects: 0, objectsDone: 0, records: 0, skipped: 0, bytes: 0, elapsedMs: 0, recordsPerSecond: 0, dryRun, done: false }
  const snapshot = (): RestoreStats => {
    const elapsedMs = Date.now() - started
    return { ...stats, elapsedMs, recordsPerSecond: elapsedMs > 0 ? Math.round(stats.records * 1000 / elapsedMs) : 0 }
  }

  const ownStore = options.store === undefined
  const store = options.store ?? (await import('../service.js')).createStore(config)
  const opener = options.opener ?? objectOpener(config.sink)
  const checkpoints = new CheckpointStore(options.checkpointStore ?? store, config.sink.prefix, sourceTopic, targetTopic)
  let target = options.target
  const ownTarget = target === undefined && !dryRun
  const timer = options.onProgress === undefined ? undefined : setInterval(() => { options.onProgress?.(snapshot()) }, options.progressIntervalMs ?? 5000)
  try {
    const request = JSON.stringify({ sourceTopic, targetTopic, range, wrap, partitioning: options.partitioning ?? 'source', valuesOnly: options.valuesOnly === true })
    let plan = dryRun ? null : await checkpoints.loadPlan()
    if (plan !== null && plan.request !== request) {
      throw new SedimentError(ErrorCodes.STATE, `restore: ${checkpoints.location} holds a restore with other options (${plan.request}); delete it to start over`)
    }
    // Without wrap the records' offsets are unknown: objects cannot be merged and are restored one by one.
    const units = plan?.units ?? (wrap ? restoreUnits : (o: SourceObject[]) => o.map((x) => [x]))(
      await selectObjects(store, config.sink.prefix, sourceTopic, config.partition.template, range))
    const objects = units.flat()
    // Refuse before anything is sent: a format that cannot carry what the restore promises.
    for (const o of objects) {
      const f = objectFormat(o.key, wrap)
      if (!f.wrapped && options.valuesOnly !== true) throw new SedimentError(ErrorCodes.CONFIG, `restore: ${o.key} ${LOSSY_FORMAT}`)
    }
    if (plan === null && !dryRun) {
      plan = { version: 1, request, units, createdAt: new Date().toISOString() }
      await checkpoints.savePlan(plan)
    }
    stats.objects = objects.length
    const progress = dryRun ? null : await checkpoints.loadProgress()
    const first = progress?.index ?? 0
    stats.objectsDone = units.slice(0, first).reduce((n, u) => n + u.length, 0)
    log?.info({ objects: objects.length, units: units.length, resumeAt: first, targetTopic, dryRun }, first > 0 || progress?.startOffset != null ? 'resuming restore' : 'restoring')

    let partitions = 0
    if (!dryRun) {
      target ??= connectTarget(config.kafka, { idempotent: options.idempotent ?? true })
      partitions = await target.partitionCount(targetTopic)
    }
    const targetPartition = (p: number): number => {
      if (dryRun) return p
      if (options.partitioning === 'modulo') return p % partitions
      if (p >= partitions) {
        throw new SedimentError(ErrorCodes.CONFIG, `restore: the archive has source partition ${p} but ${targetTopic} has ${partitions} partitions (create it with at least ${p + 1}, or use --partitioning modulo)`)
      }
      return p
    }
    const keep = range.kind === 'offsets' && wrap
      ? (o: number | undefined) => o === undefined || (o >= (range.from ?? 0) && o < (range.to ?? Number.MAX_SAFE_INTEGER))
      : undefined

    for (let i = first; i < units.length; i++) {
      if (options.signal?.aborted === true) throw new SedimentError(ErrorCodes.SHUTDOWN, 'restore interrupted', { cause: options.signal.reason })
      const unit = units[i] as SourceObject[]
      const object = unit[0] as SourceObject
      const partition = targetPartition(object.partition)
      let startOffset: number | null = null
      const resumed = i === first && progress?.startOffset != null
      if (target !== undefined) {
        if (resumed && progress?.startOffset != null) {
          startOffset = progress.startOffset
        } else {
          startOffset = await target.highWatermark(targetTopic, partition)
          await checkpoints.saveProgress(i, startOffset)
        }
        crashPoint('restore-begun')
      }
      // A failed attempt (broker or store trouble) is retried in place by the same rule as a restart: what is
      // above the unit's start offset landed already. The first attempt of a fresh unit skips nothing.
      let attempt = 0
      const result = await retry(async () => {
        attempt++
        let skip = 0
        if (target !== undefined && startOffset !== null && (attempt > 1 || resumed)) {
          skip = await target.settledHighWatermark(targetTopic, partition) - startOffset
          if (skip < 0) throw new SedimentError(ErrorCodes.STATE, `restore: ${targetTopic}[${partition}] is below the offset this restore saw (${startOffset}): was the topic recreated?`)
        }
        const r = await restoreUnit(unit, partition, skip, target, targetTopic, opener, wrap, keep, options, stats)
        if (r.skipped < skip) {
          throw new SedimentError(ErrorCodes.STATE, `restore: ${targetTopic}[${partition}] grew by ${skip} records since ${object.key} began but it holds ${r.records}: someone else writes to the target topic`)
        }
        return r
      }, {
        maxAttempts: options.maxAttempts ?? 8,
        initialDelayMs: 500,
        maxDelayMs: 15_000,
        stop: () => options.signal?.aborted === true ? new SedimentError(ErrorCodes.SHUTDOWN, 'restore interrupted', { cause: options.signal.reason }) : undefined,
        isPermanent: (e) => e instanceof SedimentError && PERMANENT.has(e.code),
        onRetry: (e, n, delayMs) => { log?.warn({ key: object.key, attempt: n, delayMs, err: errorMessage(e) }, 'restoring an object failed; retrying from the target high watermark') }
      })
      stats.objectsDone += unit.length
      crashPoint('restore-object-done')
      log?.debug({ keys: unit.map((o) => o.key), partition, records: result.records, skipped: result.skipped }, 'restored')
    }
    if (!dryRun) await checkpoints.saveProgress(units.length, null)
    stats.done = true
    const out = snapshot()
    log?.info(out, dryRun ? 'dry run done' : 'restore done')
    return out
  } finally {
    if (timer !== undefined) clearInterval(timer)
    if (ownTarget) await target?.close()
    if (options.opener === undefined) await opener.close()
    if (ownStore) await store.close()
  }
}

async function restoreUnit (
  unit: SourceObject[], partition: number, skip: number, target: RestoreTarget | undefined, topic: string, opener: ObjectOpener,
  wrap: boolean, keep: ((o: number | undefined) => boolean) | undefined, options: RestoreOptions, stats: RestoreStats
): Promise<{ records: number, skipped: number }> {
  const object = unit[0] as SourceObject
  const format = objectFormat(object.key, wrap)
  const sink = new ProducerSink({
    decode: format.decode,
    partition,
    skip,
    ...(keep !== undefined ? { keep } : {}),
    ...(target !== undefined ? { send: async (messages) => { await target.send(topic, messages) } } : {}),
    batchRecords: options.batchRecords ?? 1000,
    batchBytes: options.batchBytes ?? 1024 * 1024,
    onSent: (n) => { stats.records += n }
  })
  const signal = options.signal !== undefined ? { signal: options.signal } : {}
  try {
    await runUnit(unit, sink, format.decode, opener, stats, signal)
  } catch (err) {
    // What this attempt sent is counted as skipped by the next one.
    stats.records -= sink.sent
    throw err
  }
  stats.skipped += sink.skipped
  return { records: sink.records, skipped: sink.skipped }
}

async function runUnit (unit: SourceObject[], sink: ProducerSink, decode: RecordDecoder, opener: ObjectOpener, stats: RestoreStats, signal: { signal?: AbortSignal }): Promise<void> {
  const object = unit[0] as SourceObject
  if (unit.length === 1) {
    await pipeline([...await objectStages(object, opener, stats), sink], signal)
  } else {
    // Objects that interleave in offsets: each read to record batches, merged by offset into the one sink.
    const sources: Readable[] = []
    try {
      for (const o of unit) {
        const stages = await objectStages(o, opener, stats)
        const splitter = stages[stages.length - 1] as Transform
        // The merge reads the splitter; a failure anywhere in the chain destroys it, which the merge then throws.
        pipeline(stages).catch(() => {})
        sources.push(splitter)
      }
      await pipeline([Readable.from(mergeByOffset(sources, decode)), sink], signal)
    } finally {
      for (const s of sources) s.destroy()
    }
  }
}

/** object stream → byte counter → inflate → record splitter (batches of records). */
async function objectStages (object: SourceObject, opener: ObjectOpener, stats: RestoreStats): Promise<[Readable, ...Transform[]]> {
  const format = objectFormat(object.key, true)
  const inflate = inflater(codecOf(object.key))
  const source = await opener.open(object.key)
  const counter = byteCounter((n) => { stats.bytes += n })
  return inflate === undefined ? [source, counter, recordSplitter(format.framing)] : [source, counter, inflate, recordSplitter(format.framing)]
}

function byteCounter (add: (n: number) => void): Transform {
  return new Transform({
    transform (chunk: Buffer, _enc, done: TransformCallback) { add(chunk.length); done(null, chunk) }
  })
}
