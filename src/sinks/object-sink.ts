import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import type { Logger } from 'pino'
import { FencedError, errorMessage } from '../errors.js'
import { retry } from '../retry.js'
import type { AssignmentEvent, EncodedBatch, OffsetCommitter, PipelineItem, SkippedRange } from '../types.js'
import {
  CommitProtocol, abortFiles, cutReason, stoppedError,
  type CommitEvent, type Cut, type CutReason, type UploadPolicy
} from './commit-protocol.js'
import { dataKey } from './layout.js'
import { joinKey, type ObjectStore } from './object-store.js'
import { FILE_OVERHEAD_BYTES, OpenFile, type PartUploader } from './open-file.js'

export interface ObjectSinkOptions {
  store: ObjectStore
  /** The Kafka source (or anything that commits offsets with fencing). */
  committer: OffsetCommitter
  logger: Logger
  prefix?: string
  generation?: number
  maxFileBytes?: number
  maxFileAgeSeconds?: number
  /**
   * Per-topic upload policy (config topicOverrides): the cut size and age for a topic, or undefined for the
   * defaults above. Asked once per topic. `minFileAgeSeconds` must be the smallest age it can return (the age
   * check's clock ticks at a quarter of it).
   */
  topicPolicy?: { policyFor: (topic: string) => { maxFileBytes: number, maxFileAgeSeconds: number } | undefined, minFileAgeSeconds: number }
  /** S3 needs ≥ 5 MiB for all parts but the last. */
  partSizeBytes?: number
  maxConcurrentParts?: number
  /**
   * Compressed bytes held in memory before writes wait (and, if nothing is uploading, the largest partition is
   * cut). Each open file also counts FILE_OVERHEAD_BYTES (its bookkeeping) until its cut is over.
   */
  maxBufferedBytes?: number
  /**
   * Open files one Kafka partition may have (output directories × layouts). Opening one more cuts the partition
   * first (an early cut, reason 'files'), so a high-cardinality partitioning field or timestamps spread over
   * decades cannot open files without bound. A single batch that spans more directories still goes into one cut.
   * Default 1000.
   */
  maxOpenFilesPerPartition?: number
  /** On end of input: true = cut and commit everything buffered, false = discard it (it will be re-read). */
  uploadOnEnd?: boolean
  /** Distinguishes this process's intents; random by default. */
  writerId?: string
}

export interface SinkStats {
  commits: number
  filesCommitted: number
  recordsCommitted: number
  /** Of recordsCommitted, those written to the error output (`_errors/`). */
  errorRecordsCommitted: number
  bytesCommitted: number
  fencedCuts: number
  ambiguousCuts: number
  /** Partitions whose open files were carried over a rejoin (kept rather than dropped and read again). */
  carriedOver: number
  /** Cuts made before size or age asked for one: the memory budget was full, or a partition hit its open-file cap. */
  earlyCutsMemory: number
  earlyCutsFiles: number
  openFiles: number
  bufferedBytes: number
}

/** The cumulative counters of SinkStats (the rest are gauges); a service adds them up across pipelines. */
export const SinkCounters = ['commits', 'filesCommitted', 'recordsCommitted', 'errorRecordsCommitted', 'bytesCommitted', 'fencedCuts', 'ambiguousCuts', 'earlyCutsMemory', 'earlyCutsFiles', 'carriedOver'] as const
export type SinkCounter = (typeof SinkCounters)[number]

export function emptyCounters (): Record<SinkCounter, number> {
  return Object.fromEntries(SinkCounters.map((k) => [k, 0])) as Record<SinkCounter, number>
}

/** Per Kafka partition, for the current assignment epoch. */
interface PartitionState {
  topic: string
  partition: number
  epoch: number
  /** Where the open files begin: the last cut's end (= the committed offset once that cut commits). */
  cutStart: number | null
  /** Next offset expected; what the next cut commits. */
  nextOffset: number | null
  /** Open files by directory (plus layout id, see #append). */
  files: Map<string, OpenFile>
  rawBytes: number
  oldestOpenedAt: number
  maxEventTime: number | null
  /** Offsets of the open range lost to retention (from the source), for the cut's manifest. */
  skipped: SkippedRange[]
  /** Cuts of this partition, strictly one after another; starts with recovery of a previous owner's cut. */
  chain: Promise<void>
  /** Cuts queued on the chain and not yet settled. */
  cutsInFlight: number
  /** Assigned without a committed offset (read from autoOffsetReset) and no cut of it committed since. */
  fromReset: boolean
  dropped: boolean
}

const SWEEP_INTERVAL_MS = 15 * 60_000

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

/**
 * The sink: the last stage of a pipeline. It owns the open files of every assigned Kafka partition, streams
 * their bytes into invisible multipart uploads and hands cuts to the commit protocol (commit-protocol.ts),
 * which commits the Kafka offset and only then makes the objects visible.
 *
 * Events: 'commit' (CommitEvent) after a cut is committed and visible.
 */
export class ObjectSink extends Writable {
  readonly events = new EventEmitter()
  readonly #store: ObjectStore
  readonly #committer: OffsetCommitter
  readonly #log: Logger
  readonly #prefix: string
  readonly #generation: number
  readonly #policy: UploadPolicy
  readonly #topicPolicyFor: ((topic: string) => { maxFileBytes: number, maxFileAgeSeconds: number } | undefined) | undefined
  readonly #topicPolicies = new Map<string, UploadPolicy>()
  readonly #partSize: number
  readonly #maxParts: number
  readonly #maxBuffered: number
  readonly #maxOpenFiles: number
  readonly #uploadOnEnd: boolean
  readonly #protocol: CommitProtocol
  readonly #uploader: PartUploader
  readonly #partitions = new Map<string, PartitionState>()
  readonly #timer: NodeJS.Timeout
  readonly #sweepTimer: NodeJS.Timeout
  #buffered = 0
  /** Of #buffered: the bookkeeping of files whose cut is over but not yet settled (committed, fenced, aborted). */
  #settling = 0
  #partsInFlight = 0
  readonly #partQueue: Array<() => void> = []
  #memoryWaiters: Array<() => void> = []
  #stopped: Error | undefined
  /** Aborted with #stopped: ends every retry wait of the protocol at once (a store that never answers too). */
  readonly #abort = new AbortController()
  /** Upload ids this process created and has not finished with, by the epoch they were created in. */
  readonly #ownUploads = new Map<string, number>()
  /** Keys whose CreateMultipartUpload is in flight: a sweep listing may see the upload before we know its id. */
  readonly #creating = new Map<string, number>()
  /** Resolved when the last in-flight create of a key finishes (so the sweeper can decide after all). */
  readonly #createdWaiters = new Map<string, Array<() => void>>()
  #epoch = 0
  readonly #stats = emptyCounters()

  constructor (options: ObjectSinkOptions) {
    super({ objectMode: true, highWaterMark: 4 })
    this.#store = options.store
    this.#committer = options.committer
    this.#log = options.logger.child({ component: 'sink' })
    this.#prefix = options.prefix ?? ''
    this.#generation = options.generation ?? 1
    this.#policy = {
      maxFileBytes: options.maxFileBytes ?? 100 * 1024 * 1024,
      maxFileAgeMs: (options.maxFileAgeSeconds ?? 3600) * 1000
    }
    this.#topicPolicyFor = options.topicPolicy?.policyFor
    this.#partSize = Math.max(options.partSizeBytes ?? 8 * 1024 * 1024, 1)
    this.#maxParts = options.maxConcurrentParts ?? 4
    this.#maxBuffered = options.maxBufferedBytes ?? 256 * 1024 * 1024
    this.#maxOpenFiles = Math.max(1, options.maxOpenFilesPerPartition ?? 1000)
    this.#uploadOnEnd = options.uploadOnEnd ?? true
    const writerId = options.writerId ?? randomBytes(6).toString('hex')
    this.#protocol = new CommitProtocol({
      store: this.#store,
      committer: this.#committer,
      prefix: this.#prefix,
      generation: this.#generation,
      writerId,
      logger: this.#log,
      stopped: () => this.#stopped,
      signal: this.#abort.signal,
      onCommitted: (e) => { this.#onCommitted(e) }
    })
    this.#uploader = {
      createUpload: async (key, owner) => {
        this.#creating.set(key, (this.#creating.get(key) ?? 0) + 1)
        try {
          // under the same slot limit as parts: a cut of thousands of files must not open thousands at once
          const id = await this.#withPartSlot(async () => await this.#retryPart(key, owner, async () => await this.#store.createUpload(key)))
          // both at once: a carry-over in between must find the id to move it to the new epoch
          owner.uploadIdKnown = id
          this.#ownUploads.set(id, owner.epoch)
          return id
        } finally {
          const n = (this.#creating.get(key) ?? 1) - 1
          if (n === 0) {
            this.#creating.delete(key)
            for (const w of this.#createdWaiters.get(key) ?? []) w()
            this.#createdWaiters.delete(key)
          } else {
            this.#creating.set(key, n)
          }
        }
      },
      uploadPart: async (key, uploadId, n, body, owner) => await this.#withPartSlot(async () =>
        await this.#retryPart(key, owner, async () => await this.#store.uploadPart(key, uploadId, n, body))),
      released: (bytes) => { this.#release(bytes) }
    }
    this.#committer.setStartResolver?.(async (assigned) => await this.#protocol.startOffset(assigned))
    this.#committer.enableCarryOver?.()
    // The age policy needs a clock even when no data arrives.
    const minAgeMs = Math.min(this.#policy.maxFileAgeMs, (options.topicPolicy?.minFileAgeSeconds ?? Infinity) * 1000)
    const tick = Math.max(50, Math.min(1000, Math.floor(minAgeMs / 4)))
    this.#timer = setInterval(() => { this.#cutAged() }, tick).unref()
    this.#sweepTimer = setInterval(() => { this.#sweepOwned() }, SWEEP_INTERVAL_MS).unref()
  }

  stats (): SinkStats {
    let openFiles = 0
    for (const p of this.#partitions.values()) openFiles += p.files.size
    return { ...this.#stats, openFiles, bufferedBytes: this.#buffered }
  }

  override _write (item: PipelineItem, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    switch (item.kind) {
      case 'encoded':
        this.#append(item)
        // Hold the callback while over the memory budget: that is the backpressure reaching the source.
        if (this.#buffered > this.#maxBuffered) this.#waitForMemory().then(() => { callback() }, callback)
        else callback()
        return
      case 'assignment':
        this.#assign(item)
        callback()
        return
      case 'flush':
        this.#cutAll('flush')
        this.#settled().then(() => { callback() }, callback)
        return
      default:
        callback(new Error(`sink received a "${item.kind}" item; put the encode stage before it`))
    }
  }

  override _final (callback: (err?: Error | null) => void): void {
    if (this.#uploadOnEnd) this.#cutAll('shutdown')
    else this.#dropAll('end of input without upload')
    this.#settled().then(() => {
      clearInterval(this.#timer)
      clearInterval(this.#sweepTimer)
      callback()
    }, callback)
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    clearInterval(this.#timer)
    clearInterval(this.#sweepTimer)
    this.#stopped ??= stoppedError()
    this.#abort.abort(this.#stopped)
    this.#dropAll('sink destroyed')
    for (const w of this.#memoryWaiters) w()
    this.#memoryWaiters = []
    callback(err)
  }

  #append (batch: EncodedBatch): void {
    const ps = this.#partitions.get(tpKey(batch.topic, batch.partition))
    // Data of an older assignment epoch (or of a partition we do not own) is stale: another owner may have
    // processed it since. It is dropped; the current owner reads it again from the committed offset.
    if (ps === undefined || ps.epoch !== batch.epoch || ps.dropped) return
    if (ps.nextOffset !== null && batch.nextOffset <= ps.nextOffset) return // re-delivered
    const now = Date.now()
    // A layout (Parquet) may need a file of its own per id (schema) in a directory; keys still differ, as
    // each file is named by its own first offset.
    const fileIds = batch.groups.map((group) => group.layout === undefined ? group.dir : `${group.dir}\u0000${group.layout.id}`)
    if (ps.files.size > 0) {
      let opening = 0
      for (const id of new Set(fileIds)) if (!ps.files.has(id)) opening++
      if (ps.files.size + opening > this.#maxOpenFiles) {
        // Cut at the previous batch's end (batches are contiguous) before this one opens files past the cap.
        this.#stats.earlyCutsFiles++
        this.#cut(ps, 'files')
      }
    }
    ps.cutStart ??= batch.firstOffset
    batch.groups.forEach((group, i) => {
      const fileId = fileIds[i] as string
      let file = ps.files.get(fileId)
      if (file === undefined) {
        const key = dataKey(this.#prefix, group.dir, this.#generation, batch.partition, group.firstOffset, group.extension)
        file = new OpenFile(key, batch.epoch, group.firstOffset, this.#uploader, this.#partSize, now, group.layout?.open())
        if (ps.files.size === 0) ps.oldestOpenedAt = now
        ps.files.set(fileId, file)
        this.#buffered += FILE_OVERHEAD_BYTES
      }
      this.#buffered += file.append(group)
    })
    if (batch.maxEventTime !== undefined && (ps.maxEventTime === null || batch.maxEventTime > ps.maxEventTime)) {
      ps.maxEventTime = batch.maxEventTime
    }
    ps.rawBytes += batch.rawBytes
    if (batch.skipped !== undefined) ps.skipped.push(...batch.skipped)
    ps.nextOffset = batch.nextOffset
    const reason = cutReason(ps.rawBytes, ps.oldestOpenedAt, now, this.#policyOf(ps.topic))
    if (reason !== undefined) this.#cut(ps, reason)
    else if (ps.files.size > this.#maxOpenFiles) { // one batch alone spanned more directories than the cap
      this.#stats.earlyCutsFiles++
      this.#cut(ps, 'files')
    }
  }

  #assign (event: AssignmentEvent): void {
    // A rejoin voids partition state, except the open files of partitions carried over (see #carryOver).
    // Unfinished cuts of older epochs are fenced by the commit protocol.
    const kept = this.#carryOver(event)
    for (const [key, ps] of this.#partitions) if (!kept.has(key)) this.#drop(ps, 'rebalance')
    this.#partitions.clear()
    this.#epoch = event.epoch
    for (const ps of kept.values()) {
      ps.epoch = event.epoch
      for (const f of ps.files.values()) {
        f.epoch = event.epoch
        if (f.uploadIdKnown !== undefined) this.#ownUploads.set(f.uploadIdKnown, event.epoch)
      }
    }
    for (const [id, epoch] of this.#ownUploads) if (epoch < event.epoch) this.#ownUploads.delete(id)
    const byTopic = new Map<string, { partitions: Set<number>, recovered: Array<Promise<void>> }>()
    for (const a of event.partitions) {
      const carried = kept.get(tpKey(a.topic, a.partition))
      const ps: PartitionState = carried ?? {
        topic: a.topic,
        partition: a.partition,
        epoch: event.epoch,
        cutStart: a.committedOffset,
        nextOffset: a.committedOffset,
        files: new Map(),
        rawBytes: 0,
        oldestOpenedAt: 0,
        maxEventTime: null,
        skipped: [],
        chain: Promise.resolve(),
        cutsInFlight: 0,
        fromReset: a.committedOffset === null,
        dropped: false
      }
      ps.chain = this.#protocol.recover(a).catch((err: unknown) => {
        this.#log.error({ topic: a.topic, partition: a.partition, err: errorMessage(err) }, 'recovery of the previous cut failed')
        this.#drop(ps, 'recovery failed') // nothing of this epoch can commit; files carried over are aborted too
      })
      this.#partitions.set(tpKey(a.topic, a.partition), ps)
      const t = byTopic.get(a.topic) ?? { partitions: new Set(), recovered: [] }
      t.partitions.add(a.partition)
      t.recovered.push(ps.chain)
      byTopic.set(a.topic, t)
    }
    // Once recovered, clear away what dead or fenced writers left for these partitions (best effort; the
    // bucket's AbortIncompleteMultipartUpload lifecycle rule remains the backstop).
    for (const [topic, t] of byTopic) {
      Promise.all(t.recovered).then(() => { this.#sweep(topic, t.partitions, event.epoch) }, () => {})
    }
    this.#log.info({ epoch: event.epoch, partitions: event.partitions.length, carriedOver: kept.size }, 'assignment')
  }

  /**
   * Which partitions keep their open files across this rejoin. A partition qualifies when nothing was committed
   * for it since its open files began (the group's offset, as resolved, is still their start: nobody else
   * owned and committed it in between) and no cut of it is in flight (that cut's commit is fenced now, so the
   * files after it could not commit either). Its data is the same whoever reads it: keeping it is reading it
   * again without the wait. The source must agree to continue from where the files end.
   */
  #carryOver (event: AssignmentEvent): Map<string, PartitionState> {
    const kept = new Map<string, PartitionState>()
    if (event.carryOver === undefined) return kept
    for (const a of event.partitions) {
      const key = tpKey(a.topic, a.partition)
      const ps = this.#partitions.get(key)
      if (ps === undefined || ps.dropped || ps.cutsInFlight > 0 || ps.files.size === 0 || ps.nextOffset === null) continue
      // Still nothing committed (nor any manifest, see startOffset) and none of ours committed: a new reader would
      // start from the reset position again, which for these files is where they begin (or before, for
      // 'latest': keeping them then skips less).
      if (a.committedOffset === null ? !ps.fromReset : ps.cutStart !== a.committedOffset) continue
      // Parquet layouts are reset on every assignment (encode stage): their files cannot take new data.
      if ([...ps.files.keys()].some((id) => id.includes('\u0000'))) continue
      kept.set(key, ps)
    }
    const accepted = event.carryOver([...kept.values()].map((ps) => ({ topic: ps.topic, partition: ps.partition, nextOffset: ps.nextOffset as number })))
    if (!accepted) kept.clear()
    this.#stats.carriedOver += kept.size
    return kept
  }

  #cut (ps: PartitionState, reason: CutReason): void {
    if (ps.files.size === 0 || ps.nextOffset === null || ps.cutStart === null) return
    const files = [...ps.files.values()]
    for (const f of files) this.#buffered += f.seal() // last parts start uploading now, before the previous cut commits
    const cut: Cut = {
      topic: ps.topic,
      partition: ps.partition,
      epoch: ps.epoch,
      startOffset: ps.cutStart,
      endOffset: ps.nextOffset,
      files,
      maxEventTime: ps.maxEventTime,
      reason,
      ...(ps.skipped.length > 0 ? { skipped: ps.skipped } : {})
    }
    ps.skipped = []
    ps.files = new Map()
    ps.rawBytes = 0
    ps.cutStart = ps.nextOffset
    this.#settling += files.length * FILE_OVERHEAD_BYTES
    ps.cutsInFlight++
    this.#log.debug({ topic: ps.topic, partition: ps.partition, endOffset: cut.endOffset, files: files.length, reason }, 'cut')
    ps.chain = ps.chain.then(async () => {
      if (ps.dropped) {
        await abortFiles(this.#store, files, this.#log)
        await this.#forget(files)
        return
      }
      const outcome = await this.#protocol.finish(cut)
      if (outcome === 'committed') ps.fromReset = false
      await this.#forget(files)
      if (outcome === 'fenced') this.#stats.fencedCuts++
      if (outcome === 'ambiguous') this.#stats.ambiguousCuts++
      if (outcome !== 'committed') ps.dropped = true // later cuts of this epoch cannot commit either
    }).catch((err: unknown) => {
      ps.dropped = true
      if (this.#stopped === undefined) this.#log.error({ topic: ps.topic, partition: ps.partition, err: errorMessage(err) }, 'cut failed')
    }).finally(() => {
      ps.cutsInFlight--
      this.#settling -= files.length * FILE_OVERHEAD_BYTES
      this.#release(files.length * FILE_OVERHEAD_BYTES)
    })
  }

  #cutAll (reason: CutReason): void {
    for (const ps of this.#partitions.values()) if (!ps.dropped) this.#cut(ps, reason)
  }

  #policyOf (topic: string): UploadPolicy {
    const custom = this.#topicPolicyFor
    if (custom === undefined) return this.#policy
    let policy = this.#topicPolicies.get(topic)
    if (policy === undefined) {
      const p = custom(topic)
      policy = p === undefined ? this.#policy : { maxFileBytes: p.maxFileBytes, maxFileAgeMs: p.maxFileAgeSeconds * 1000 }
      this.#topicPolicies.set(topic, policy)
    }
    return policy
  }

  #cutAged (): void {
    const now = Date.now()
    for (const ps of this.#partitions.values()) {
      if (ps.dropped || ps.files.size === 0) continue
      if (cutReason(ps.rawBytes, ps.oldestOpenedAt, now, this.#policyOf(ps.topic)) !== undefined) this.#cut(ps, 'age')
    }
  }

  #dropAll (why: string): void {
    for (const ps of this.#partitions.values()) this.#drop(ps, why)
  }

  #drop (ps: PartitionState, why: string): void {
    if (ps.dropped) return
    ps.dropped = true
    const files = [...ps.files.values()]
    ps.files = new Map()
    if (files.length === 0) return
    for (const f of files) this.#release(f.discardPending())
    this.#log.debug({ topic: ps.topic, partition: ps.partition, files: files.length, why }, 'dropping unflushed files')
    abortFiles(this.#store, files, this.#log).then(async () => { await this.#forget(files) }).catch(() => {})
      .finally(() => { this.#release(files.length * FILE_OVERHEAD_BYTES) })
  }

  #sweep (topic: string, partitions: Set<number>, epoch: number): void {
    if (this.#epoch !== epoch || this.#stopped !== undefined) return
    // The uploads of this writer's own ambiguous cuts are forgotten here but still protected by their intents.
    this.#protocol.sweep(topic, partitions, async (id, key) => await this.#isOwnUpload(id, key), () => this.#epoch === epoch && this.#stopped === undefined)
      .catch((err: unknown) => { this.#log.warn({ topic, err: errorMessage(err) }, 'sweeping incomplete uploads failed') })
  }

  /** Periodically too: intents are kept a while (see INTENT_RETENTION_MS), so one sweep per assignment is not enough. */
  #sweepOwned (): void {
    const byTopic = new Map<string, Set<number>>()
    for (const ps of this.#partitions.values()) {
      if (!ps.dropped) byTopic.set(ps.topic, (byTopic.get(ps.topic) ?? new Set()).add(ps.partition))
    }
    for (const [topic, partitions] of byTopic) this.#sweep(topic, partitions, this.#epoch)
  }

  /**
   * Whether an upload the sweeper found is one of ours. A listing can show our upload before its create call has
   * returned; a dead writer may have used the same key (keys repeat by design), so wait for our creates of that
   * key to finish and decide by id.
   */
  async #isOwnUpload (uploadId: string, key: string): Promise<boolean> {
    if (this.#creating.has(key)) {
      await new Promise<void>((resolve) => {
        const waiters = this.#createdWaiters.get(key) ?? []
        waiters.push(resolve)
        this.#createdWaiters.set(key, waiters)
      })
    }
    return this.#ownUploads.has(uploadId)
  }

  /** The cut of these files is over (committed, fenced or dropped): their uploads are no longer ours to spare. */
  async #forget (files: OpenFile[]): Promise<void> {
    for (const f of files) {
      const id = await f.settledUploadId()
      if (id !== undefined) this.#ownUploads.delete(id)
    }
  }

  /** Resolves when every queued cut has finished (committed, fenced or abandoned). */
  async #settled (): Promise<void> {
    await Promise.all([...this.#partitions.values()].map(async (p) => await p.chain))
  }

  async #waitForMemory (): Promise<void> {
    while (this.#buffered > this.#maxBuffered && this.#stopped === undefined) {
      // Cuts still settling free their bookkeeping when done: wait for them rather than cut again and again.
      if (this.#partsInFlight === 0 && this.#partQueue.length === 0 && this.#settling === 0) {
        // Nothing is uploading, so nothing will free memory by itself: cut the partition holding the most
        // (its files' bookkeeping included: many small files may hold more than a few large ones).
        let largest: PartitionState | undefined
        let most = 0
        for (const ps of this.#partitions.values()) {
          let held = ps.files.size * FILE_OVERHEAD_BYTES
          for (const f of ps.files.values()) held += f.pendingBytes
          if (!ps.dropped && ps.files.size > 0 && held > most) { most = held; largest = ps }
        }
        if (largest === undefined) return
        this.#stats.earlyCutsMemory++
        this.#cut(largest, 'memory')
      }
      await new Promise<void>((resolve) => { this.#memoryWaiters.push(resolve) })
    }
  }

  #release (bytes: number): void {
    this.#buffered -= bytes
    if (this.#memoryWaiters.length > 0) {
      const waiters = this.#memoryWaiters
      this.#memoryWaiters = []
      for (const w of waiters) w()
    }
  }

  async #withPartSlot<T> (fn: () => Promise<T>): Promise<T> {
    if (this.#partsInFlight >= this.#maxParts) {
      await new Promise<void>((resolve) => { this.#partQueue.push(resolve) })
    } else {
      this.#partsInFlight++
    }
    try {
      return await fn()
    } finally {
      const next = this.#partQueue.shift()
      if (next !== undefined) next() // hand the slot over
      else this.#partsInFlight--
    }
  }

  /**
   * Part uploads retry until they succeed, the sink stops, or their assignment epoch is over (the partition may
   * have a new owner, who aborts what we started: retrying would only hold part slots the current epoch needs).
   */
  async #retryPart<T> (key: string, owner: { readonly epoch: number }, fn: () => Promise<T>): Promise<T> {
    return await retry(fn, {
      stop: () => this.#stopped ?? (owner.epoch !== this.#epoch ? new FencedError(`${key}: assignment epoch ${owner.epoch} is over`) : undefined),
      isPermanent: (e) => e instanceof FencedError,
      onRetry: (e, n, delay) => { this.#log.warn({ key, attempt: n, delayMs: delay, err: errorMessage(e) }, 'upload failed, retrying') }
    })
  }

  #onCommitted (e: CommitEvent): void {
    this.#stats.commits++
    this.#stats.filesCommitted += e.files.length
    const errorsDir = joinKey(this.#prefix, '_errors') + '/'
    for (const f of e.files) {
      this.#stats.recordsCommitted += f.records
      if (f.key.startsWith(errorsDir)) this.#stats.errorRecordsCommitted += f.records
      this.#stats.bytesCommitted += f.bytes
    }
    this.#log.info({ topic: e.topic, partition: e.partition, offset: e.endOffset, files: e.files.length, reason: e.reason, ms: e.durationMs }, 'committed')
    this.events.emit('commit', e)
  }
}

