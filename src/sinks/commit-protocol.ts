/**
 * The commit protocol: the one place that decides when a Kafka partition's files are cut and in which order a
 * cut becomes durable, committed and visible. Read this before touching the sink.
 *
 * Per Kafka partition, all open files are cut together at one offset (`endOffset`), then, strictly in order:
 *
 *   1. every part of every file of the cut is uploaded (invisible: incomplete multipart uploads);
 *   2. an *intent* object lists the cut's uploads (ids and part ETags) — so that someone else can finish it;
 *   3. the Kafka offset `endOffset` is committed with metadata naming the intent. The commit is fenced by the
 *      group generation (Kafka rejects a member that lost the partition), so it is the point of no return:
 *      a writer that was fenced never passes it;
 *   4. each upload is completed — only now do the objects become visible;
 *   5. a manifest of the committed cut is written and the intent deleted.
 *
 * Cuts of one partition run one after another (the next cut's parts may stream meanwhile, its commit waits).
 * A writer that dies between 3 and 4 leaves a committed, invisible cut: the next owner of the partition reads
 * the commit metadata on assignment and completes it (`recover`) before it commits anything itself.
 * A writer fenced at 3 aborts its uploads and deletes its intent, so nothing it wrote ever becomes visible.
 * Fenced means *definitely* not applied: the client retries timed-out commits on its own, so a fencing answer
 * from Kafka may follow an attempt that landed and is never taken as definite (see commitFailure).
 * When the outcome of 3 is unknown, the writer neither completes nor aborts: if the commit landed, the next
 * owner completes the cut from the metadata; if not, the uploads stay invisible. Either way its intent protects
 * the uploads from every sweeper (its own too) for INTENT_RETENTION_MS, longer than any commit retry.
 *
 * A new owner trusts the commit metadata only as far as it can recompute it: the intent and manifest keys must
 * be the ones (prefix, generation, topic, partition, offsets) give. It resumes at the committed offset unless
 * that would lose records: when the committed cut's uploads are gone (neither intent nor manifest left, or
 * uploads missing) it re-reads from the cut's start; keys are deterministic, so a re-read cannot duplicate.
 */
import type { Logger } from 'pino'
import { crashPoint } from '../crash-points.js'
import { ErrorCodes, FencedError, SedimentError, errorMessage, isKafkaFencingError } from '../errors.js'
import { retry, type RetryOptions } from '../retry.js'
import type { AssignedPartition, OffsetCommitter, SkippedRange, TopicPartition } from '../types.js'
import {
  decodeMetadata, encodeMetadata, intentDir, intentKey, manifestKey, manifestPrefix, pad20, parseIntentName,
  type CommitMetadata, type CutFile, type CutRecord
} from './layout.js'
import { joinKey, type ObjectStore } from './object-store.js'
import type { OpenFile } from './open-file.js'

/** When to cut: the upload policy. */
export interface UploadPolicy {
  /** Raw input bytes buffered for one Kafka partition. */
  maxFileBytes: number
  /** Age of the partition's oldest open file (wall clock). */
  maxFileAgeMs: number
}

export type CutReason = 'size' | 'age' | 'flush' | 'memory' | 'files' | 'shutdown'

export function cutReason (rawBytes: number, oldestOpenedAt: number, now: number, policy: UploadPolicy): CutReason | undefined {
  if (rawBytes >= policy.maxFileBytes) return 'size'
  if (now - oldestOpenedAt >= policy.maxFileAgeMs) return 'age'
  return undefined
}

/** A cut handed to the protocol: files already sealed (their last parts are on their way). */
export interface Cut extends TopicPartition {
  epoch: number
  startOffset: number
  endOffset: number
  files: OpenFile[]
  maxEventTime: number | null
  reason: CutReason
  /** Offsets of the cut's range that retention deleted before they were read (recorded in the manifest). */
  skipped?: SkippedRange[]
}

export type CutOutcome = 'committed' | 'fenced' | 'ambiguous'

export interface CommitEvent extends TopicPartition {
  startOffset: number
  endOffset: number
  files: CutFile[]
  reason: CutReason
  /** Milliseconds from the cut to the end of step 4. */
  durationMs: number
}

export interface CommitProtocolOptions {
  store: ObjectStore
  committer: OffsetCommitter
  prefix: string
  generation: number
  writerId: string
  logger: Logger
  /** Returns an error once the sink is shutting down hard (stops endless retries). */
  stopped: () => Error | undefined
  /** Aborted on a hard shutdown: ends every wait at once, even on a store call that never answers. */
  signal?: AbortSignal
  /** Waits between retries (the model test drives time itself); default: timers. */
  sleep?: (ms: number) => Promise<void>
  /** A monotonic clock in ms (the model test drives time itself); default: performance.now. */
  now?: () => number
  onCommitted?: (event: CommitEvent) => void
}

/**
 * Intents younger than this may still be named by a late-landing commit retry (kafkajs retries for ~10 s), so
 * they and their uploads are kept, whoever wrote them. Ages are measured on the store's clock (see #storeNow),
 * never by comparing this host's clock with the store's LastModified.
 */
export const INTENT_RETENTION_MS = 15 * 60_000

/** Completions in flight per cut: a wide cut (thousands of files) must not flood the store. */
const COMPLETE_CONCURRENCY = 16

async function forEachLimited<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}


export class CommitProtocol {
  readonly #o: CommitProtocolOptions
  readonly #log: Logger
  /**
   * Intents this process still needs whatever their age: cuts in flight, and committed cuts being recovered.
   * Counted: one intent can be both (this process's own cut, committed as it was reassigned the partition).
   */
  readonly #pins = new Map<string, number>()
  /** Committed intents pinned by startOffset until their recover() ends. */
  readonly #resolved = new Set<string>()
  #attempts = 0

  #pin (intent: string): void { this.#pins.set(intent, (this.#pins.get(intent) ?? 0) + 1) }
  #unpin (intent: string): void {
    const n = (this.#pins.get(intent) ?? 1) - 1
    if (n <= 0) this.#pins.delete(intent)
    else this.#pins.set(intent, n)
  }

  constructor (options: CommitProtocolOptions) {
    this.#o = options
    this.#log = options.logger
  }

  #now (): number { return this.#o.now?.() ?? performance.now() }

  async #retry<T> (fn: () => Promise<T>, options: RetryOptions): Promise<T> {
    return await retry(fn, { signal: this.#o.signal, ...(this.#o.sleep !== undefined ? { sleep: this.#o.sleep } : {}), ...options })
  }

  /** Steps 1–5 for one cut. Never throws for fencing; throws only when the sink is stopped. */
  async finish (cut: Cut): Promise<CutOutcome> {
    const started = Date.now()
    const { committer } = this.#o
    const tp = `${cut.topic}[${cut.partition}]`
    const stillOwner = (): Error | undefined =>
      this.#o.stopped() ?? (committer.epoch !== cut.epoch ? new FencedError(`${tp} was reassigned`) : undefined)

    // 1. all parts stored (each part retries on its own until the partition is lost)
    let files: CutFile[]
    try {
      files = await Promise.all(cut.files.map(async (f) => await f.uploaded()))
    } catch (err) {
      await this.#abort(cut, undefined, err)
      return 'fenced'
    }

    const record: CutRecord = {
      version: 1,
      topic: cut.topic,
      partition: cut.partition,
      generation: this.#o.generation,
      startOffset: cut.startOffset,
      endOffset: cut.endOffset,
      writerId: this.#o.writerId,
      files,
      maxEventTime: cut.maxEventTime,
      createdAt: new Date().toISOString(),
      ...(cut.skipped !== undefined && cut.skipped.length > 0 ? { skipped: cut.skipped } : {})
    }
    // One intent per attempt: a writer that redoes a cut with the same end (after an ambiguous commit) must not
    // overwrite the intent a late-landing commit of the first attempt names.
    const intent = intentKey(this.#o.prefix, cut.topic, cut.partition, this.#o.generation, cut.endOffset, `${this.#o.writerId}-${++this.#attempts}`)
    const manifest = manifestKey(this.#o.prefix, cut.topic, cut.partition, this.#o.generation, cut.startOffset, cut.endOffset)
    this.#pin(intent)
    try {
      return await this.#commitAndComplete(cut, record, intent, manifest, started, stillOwner)
    } finally {
      this.#unpin(intent)
    }
  }

  async #commitAndComplete (cut: Cut, record: CutRecord, intent: string, manifest: string, started: number, stillOwner: () => Error | undefined): Promise<CutOutcome> {
    const { store, committer, signal } = this.#o
    const tp = `${cut.topic}[${cut.partition}]`
    const files = record.files
    // 2. intent
    try {
      await this.#retry(async () => { await store.put(intent, Buffer.from(JSON.stringify(record))) }, {
        stop: stillOwner, signal, onRetry: (e, n) => { this.#log.warn({ tp, attempt: n, err: errorMessage(e) }, 'writing intent failed, retrying') }
      })
    } catch (err) {
      await this.#abort(cut, undefined, err)
      return 'fenced'
    }

    const intentAt = this.#now()
    crashPoint('after-intent')

    // 3. the fenced commit: the point of no return
    const metadata = encodeMetadata({
      v: 1, intent, manifest, start: cut.startOffset, end: cut.endOffset, ...(cut.maxEventTime !== null ? { wm: cut.maxEventTime } : {}), ct: Date.now()
    })
    // An attempt that failed without a clear answer (timeout, lost connection) may still have landed; from
    // then on, losing the partition leaves the outcome unknown rather than fenced.
    let unknownOutcome = false
    // A writer paused between its intent and its commit (SIGSTOP, a long GC, a stuck retry) must not send a
    // commit that could land after sweepers consider the intent expired: it gives the cut up instead.
    const intentYoung = (): Error | undefined => stillOwner() ??
      (this.#now() - intentAt > INTENT_RETENTION_MS / 3 ? new FencedError(`${tp}: intent too old to commit`) : undefined)
    try {
      await this.#retry(async () => {
        try {
          await committer.commit(cut, cut.endOffset, metadata, cut.epoch)
        } catch (err) {
          if (!isDefinitelyFenced(err)) unknownOutcome = true
          throw err
        }
      }, {
        stop: intentYoung,
        isPermanent: (e) => e instanceof FencedError || isDefinitelyFenced(e),
        onRetry: (e, n) => { this.#log.warn({ tp, attempt: n, err: errorMessage(e) }, 'offset commit failed, retrying') }
      })
    } catch (err) {
      if (!unknownOutcome && isDefinitelyFenced(err)) {
        await this.#abort(cut, intent, err)
        return 'fenced'
      }
      // We cannot tell whether the commit landed. Leave the uploads and the intent to the next owner: it
      // completes them iff the committed metadata names this intent; otherwise they stay invisible until the
      // bucket's AbortIncompleteMultipartUpload lifecycle rule removes them.
      this.#log.warn({ tp, endOffset: cut.endOffset, err: errorMessage(err) }, 'commit outcome unknown; leaving the cut to the next owner')
      return 'ambiguous'
    }

    crashPoint('after-commit')

    // 4. visible — retried until done: the commit is made, so these objects must appear (or a new owner does it)
    const missing = await this.#completeAll(record, tp)
    if (missing.length > 0) throw missingError(tp, record, missing)
    const durationMs = Date.now() - started
    this.#o.onCommitted?.({ topic: cut.topic, partition: cut.partition, startOffset: cut.startOffset, endOffset: cut.endOffset, files, reason: cut.reason, durationMs })

    // 5. manifest, then the intent is no longer needed
    await this.#writeManifest(manifest, record, intent, tp)
    return 'committed'
  }

  /**
   * Called once per partition on assignment, before anything of the new epoch is committed: finishes a cut
   * that the previous owner committed but did not complete. Reads only the small intent object, never data.
   * Throws (the partition then commits nothing this epoch) on metadata naming keys it did not derive itself,
   * and when uploads of the committed cut are gone (startOffset normally re-reads the cut instead).
   */
  async recover (assigned: AssignedPartition): Promise<void> {
    const meta = this.checkedMetadata(assigned)
    if (meta === null) return
    const tp = `${assigned.topic}[${assigned.partition}]`
    const { signal } = this.#o
    const stop = (): Error | undefined => this.#o.stopped()
    this.#pin(meta.intent) // a sweep must not delete it while (or because) its recovery fails
    try {
      const body = await this.#retry(async () => await this.#o.store.get(meta.intent), { stop, signal })
      if (body === null) return // intent deleted: the cut was completed and its manifest written (or startOffset re-reads it)
      const record = this.#checkedRecord(body, meta, assigned)
      if (record.endOffset !== assigned.committedOffset) return // superseded (startOffset resumes elsewhere)
      this.#log.info({ tp, endOffset: record.endOffset, files: record.files.length }, 'completing a cut committed by a previous owner')
      const missing = await this.#completeAll(record, tp)
      if (missing.length > 0) throw missingError(tp, record, missing)
      await this.#writeManifest(meta.manifest, record, meta.intent, tp)
    } finally {
      this.#unpin(meta.intent)
      if (this.#resolved.delete(meta.intent)) this.#unpin(meta.intent) // startOffset's pin
    }
  }

  /**
   * Where a new owner must start reading a partition: the committed offset — unless
   * - a manifest shows that a later cut was committed before. That happens when kafkajs retried an older commit
   *   across a group rejoin (it stamps each retry with the newest generation) and the retry landed late, moving
   *   the committed offset back. Resuming there would write records that are already visible a second time; the
   *   stale intent the commit names is then superseded, and its uploads are left to the sweeper;
   * - the committed cut cannot be completed: neither its intent nor its manifest exists (a commit that landed
   *   after its writer gave the cut up), or some of its uploads are gone. Resuming at the committed offset
   *   would lose the cut's records: it is re-read from its start instead.
   * Lists only manifests from the committed cut's start on, and the cut's own uploads (never data).
   */
  async startOffset (assigned: AssignedPartition): Promise<number | null> {
    const tp = `${assigned.topic}[${assigned.partition}]`
    let meta: CommitMetadata | null
    try {
      meta = this.checkedMetadata(assigned)
    } catch (err) {
      this.#log.error({ tp, err: errorMessage(err) }, 'ignoring commit metadata that names keys this generation did not write')
      return assigned.committedOffset // recover() refuses the partition with the same error
    }
    // The committed cut's intent must outlive its recovery whatever its age (recover() unpins it).
    if (meta !== null && !this.#resolved.has(meta.intent)) {
      this.#resolved.add(meta.intent)
      this.#pin(meta.intent)
    }
    const dir = `${manifestPrefix(this.#o.prefix, assigned.topic)}${assigned.partition}/`
    const startAfter = meta === null ? undefined : `${dir}${this.#o.generation}_${pad20(Math.max(0, meta.start - 1))}`
    let newest: number | null = null
    // Another cut from the committed cut's start on, committed while that commit was in flight (it landed late):
    // the committed cut is superseded, and completing it would collide with that cut's objects.
    let superseded = false
    let own = false
    for await (const o of this.#o.store.list(`${dir}${this.#o.generation}_`, startAfter)) {
      const m = /_(\d{20})_(\d{20})\.json$/.exec(o.key)
      if (m === null) continue
      newest = Math.max(newest ?? 0, Number(m[2]))
      if (meta !== null && o.key === meta.manifest) own = true
      else if (meta !== null && Number(m[1]) >= meta.start) superseded = true
    }
    if (newest !== null && (assigned.committedOffset === null || newest > assigned.committedOffset || (superseded && !own))) {
      this.#log.warn({ tp, committed: assigned.committedOffset, resumeAt: newest },
        'committed offset is behind the newest committed cut (a late commit moved it back); resuming after that cut')
      return newest
    }
    if (meta === null || meta.end !== assigned.committedOffset) return assigned.committedOffset
    const { store, signal } = this.#o
    const stop = (): Error | undefined => this.#o.stopped()
    const body = await this.#retry(async () => await store.get(meta.intent), { stop, signal })
    if (body === null) {
      if (await this.#retry(async () => await store.size(meta.manifest), { stop, signal }) !== null) return assigned.committedOffset
      this.#log.error({ tp, committed: assigned.committedOffset, resumeAt: meta.start },
        'the committed cut has neither intent nor manifest (its commit landed after it was given up); re-reading it')
      return meta.start
    }
    const record = this.#checkedRecord(body, meta, assigned)
    const missing = await this.#missingUploads(record)
    if (missing.length === 0) return assigned.committedOffset
    this.#log.error({ tp, committed: assigned.committedOffset, resumeAt: record.startOffset, missing: missing.slice(0, 10) },
      'uploads of the committed cut are gone; re-reading the cut (same keys, no duplicates)')
    return record.startOffset
  }

  /**
   * The commit metadata of an assignment, or null when there is none of ours. Throws when it names keys other
   * than the ones this generation derives from (prefix, topic, partition, offsets): whoever can commit offsets
   * for the group must not be able to make us overwrite or delete arbitrary keys.
   */
  checkedMetadata (assigned: AssignedPartition): CommitMetadata | null {
    const meta = decodeMetadata(assigned.metadata)
    if (meta === null) return null
    const { prefix, generation } = this.#o
    const bad = (why: string): never => {
      throw new SedimentError(ErrorCodes.STATE, `commit metadata of ${assigned.topic}[${assigned.partition}] rejected: ${why} ` +
        `(a commit by another generation or tool for this group? give each generation its own group)`)
    }
    if (!Number.isSafeInteger(meta.start) || !Number.isSafeInteger(meta.end) || meta.start < 0 || meta.start > meta.end) bad('bad offsets')
    if (meta.manifest !== manifestKey(prefix, assigned.topic, assigned.partition, generation, meta.start, meta.end)) bad(`unexpected manifest key ${meta.manifest}`)
    const dir = intentDir(prefix, assigned.topic, assigned.partition)
    const name = meta.intent.startsWith(dir) ? parseIntentName(meta.intent.slice(dir.length)) : null
    if (name === null || name.endOffset !== meta.end || (name.generation !== null && name.generation !== generation)) bad(`unexpected intent key ${meta.intent}`)
    return meta
  }

  /** The intent's record, checked against the metadata: only data keys of this partition's cut are accepted. */
  #checkedRecord (body: Buffer, meta: CommitMetadata, assigned: AssignedPartition): CutRecord {
    const tp = `${assigned.topic}[${assigned.partition}]`
    let record: CutRecord
    try {
      record = JSON.parse(body.toString('utf8')) as CutRecord
    } catch (err) {
      throw new SedimentError(ErrorCodes.STATE, `${tp}: intent ${meta.intent} is not JSON`, { cause: err })
    }
    const ok = record !== null && typeof record === 'object' && Array.isArray(record.files) &&
      record.topic === assigned.topic && record.partition === assigned.partition &&
      record.startOffset === meta.start && record.endOffset === meta.end && record.files.every((f) => this.#isDataKeyOf(f, record, meta))
    if (!ok) throw new SedimentError(ErrorCodes.STATE, `${tp}: intent ${meta.intent} does not describe the committed cut ${meta.start}..${meta.end} of this generation`)
    return record
  }

  #isDataKeyOf (f: CutFile, record: CutRecord, meta: CommitMetadata): boolean {
    if (typeof f?.key !== 'string' || typeof f.uploadId !== 'string' || !Array.isArray(f.parts)) return false
    if (this.#o.prefix !== '' && !f.key.startsWith(`${this.#o.prefix}/`)) return false
    if (f.key.startsWith(joinKey(this.#o.prefix, '_sediment') + '/')) return false
    const m = /\/(\d+)_(\d+)_(\d{20})\.[^/]*$/.exec(f.key)
    return m !== null && Number(m[1]) === this.#o.generation && Number(m[2]) === record.partition &&
      Number(m[3]) >= meta.start && Number(m[3]) < meta.end
  }

  /** Files of a committed cut that are neither visible nor still completable. Metadata requests only. */
  async #missingUploads (record: CutRecord): Promise<string[]> {
    const { store, signal } = this.#o
    const stop = (): Error | undefined => this.#o.stopped()
    const missing: string[] = []
    await forEachLimited(record.files, COMPLETE_CONCURRENCY, async (f) => {
      const there = await this.#retry(async () => {
        if (await store.size(f.key) !== null) return true
        for await (const u of store.listUploads(f.key)) if (u.uploadId === f.uploadId && u.key === f.key) return true
        return false
      }, { stop, signal })
      if (!there) missing.push(f.key)
    })
    return missing
  }

  /**
   * Aborts multipart uploads that writers of these partitions left behind (killed, or fenced before they could
   * abort). Runs after `recover`, so every upload of a committed cut is already complete; `isLive` spares the
   * uploads this process has started since the assignment. Returns how many were aborted.
   * Only this generation's uploads and intents are touched: another generation on the same prefix has its own.
   * `owning` is asked before every delete and abort: a sweeper whose assignment is over stops at once (a new
   * owner's fresh uploads are not referenced by an intent yet).
   */
  async sweep (topic: string, partitions: Set<number>, isLive: (uploadId: string, key: string) => Promise<boolean>, owning: () => boolean = () => true): Promise<number> {
    const { store, generation } = this.#o
    // Intents first. A commit retried by kafkajs can land after this assignment and name an intent — of a
    // previous writer or of this one's own ambiguous cut — which must then still be completable: every intent
    // younger than the retention protects its uploads, whoever wrote it. Old ones (writers killed or fenced
    // before their commit) are deleted, and their uploads aborted below.
    const now = await this.#storeNow()
    const referenced = new Set<string>()
    let intents = 0
    for (const partition of partitions) {
      const dir = intentDir(this.#o.prefix, topic, partition)
      for await (const o of store.list(dir)) {
        const name = parseIntentName(o.key.slice(dir.length))
        if (name === null || (name.generation !== null && name.generation !== generation)) continue
        const expired = now !== null && o.lastModified !== undefined && now - o.lastModified > INTENT_RETENTION_MS
        if (expired && !this.#pins.has(o.key)) {
          if (!owning()) return 0
          await store.delete(o.key)
          intents++
          continue
        }
        const body = await store.get(o.key)
        if (body === null) continue
        let files: unknown
        try { files = (JSON.parse(body.toString('utf8')) as Partial<CutRecord>).files } catch {}
        for (const f of Array.isArray(files) ? files as CutFile[] : []) if (typeof f?.uploadId === 'string') referenced.add(f.uploadId)
      }
    }
    let aborted = 0
    for (const dir of [joinKey(this.#o.prefix, topic), joinKey(this.#o.prefix, '_errors', topic)]) {
      for await (const u of store.listUploads(`${dir}/`)) {
        const key = parseDataKey(u.key)
        if (key === undefined || key.generation !== generation || !partitions.has(key.partition) || referenced.has(u.uploadId)) continue
        if (await isLive(u.uploadId, u.key)) continue
        if (!owning()) return aborted
        await store.abortUpload(u.key, u.uploadId)
        aborted++
      }
    }
    if (aborted + intents > 0) this.#log.info({ topic, partitions: [...partitions], aborted, intents }, 'aborted incomplete uploads left by previous writers')
    return aborted
  }

  /**
   * "Now" on the store's clock: the LastModified of a probe object written for the purpose, so that intent
   * ages never compare this host's clock with the store's (a skewed host would delete live intents). Null when
   * the probe fails; no intent is then old enough to delete.
   */
  async #storeNow (): Promise<number | null> {
    const { store } = this.#o
    const probe = joinKey(this.#o.prefix, '_sediment', 'clock', `${this.#o.generation}_${this.#o.writerId}`)
    try {
      await store.put(probe, Buffer.alloc(0))
      let now: number | null = null
      for await (const o of store.list(probe)) if (o.key === probe && o.lastModified !== undefined) now = o.lastModified
      await store.delete(probe)
      return now
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, 'cannot read the store clock; keeping all intents this time')
      return null
    }
  }

  /**
   * Makes the files of a committed cut visible; returns the keys of those whose upload is gone without an
   * object (aborted after the commit): the cut must then be re-read. Never overwrites an existing object: one
   * already there with the cut's size is this cut's (completed before); any other size is an error.
   */
  async #completeAll (record: CutRecord, tp: string): Promise<string[]> {
    const { store, signal } = this.#o
    const missing: string[] = []
    await forEachLimited(record.files, COMPLETE_CONCURRENCY, async (f) => {
      await this.#retry(async () => {
        const before = await store.size(f.key)
        if (before !== null) {
          if (before !== f.bytes) throw overwriteError(tp, f, before)
          // Completed before (this cut's object); an upload still open under the key is a duplicate of it.
          await store.abortUpload(f.key, f.uploadId)
          return
        }
        const result = await store.completeUpload(f.key, f.uploadId, f.parts)
        if (result === 'no-such-upload') {
          // Someone completed it meanwhile (a recovering owner) — or it was aborted after the commit (a sweeper
          // or a lifecycle rule shorter than an outage). Tell the two apart by the object.
          const size = await store.size(f.key)
          if (size === null) {
            this.#log.error({ tp, key: f.key }, 'committed upload vanished before completion; the cut will be re-read')
            missing.push(f.key)
          } else if (size !== f.bytes) {
            this.#log.error({ tp, key: f.key, size, expected: f.bytes }, 'object size differs from the committed cut')
          }
        }
      }, {
        stop: () => this.#o.stopped(),
        signal,
        isPermanent: (e) => e instanceof SedimentError && e.code === ErrorCodes.STATE,
        onRetry: (e, n) => { this.#log.warn({ tp, key: f.key, attempt: n, err: errorMessage(e) }, 'completing upload failed, retrying') }
      })
    })
    return missing
  }

  async #writeManifest (manifest: string, record: CutRecord, intent: string, tp: string): Promise<void> {
    const { store, signal } = this.#o
    try {
      await this.#retry(async () => {
        await store.put(manifest, Buffer.from(JSON.stringify({ ...record, committedAt: new Date().toISOString() })))
        await store.delete(intent)
      }, { stop: () => this.#o.stopped(), signal, maxAttempts: 20 })
    } catch (err) {
      // Not fatal: the data is committed and visible; the intent lets verify/recovery rebuild the manifest.
      this.#log.warn({ tp, manifest, err: errorMessage(err) }, 'writing the manifest failed')
    }
  }

  /** Fenced before the point of no return: remove everything this writer started for the cut. */
  async #abort (cut: Cut, intent: string | undefined, cause: unknown): Promise<void> {
    const tp = `${cut.topic}[${cut.partition}]`
    this.#log.info({ tp, endOffset: cut.endOffset, reason: errorMessage(cause) }, 'cut abandoned; aborting its uploads')
    await abortFiles(this.#o.store, cut.files, this.#log)
    if (intent !== undefined) {
      await this.#o.store.delete(intent).catch((err: unknown) => {
        this.#log.warn({ tp, intent, err: errorMessage(err) }, 'could not delete intent')
      })
    }
  }
}

/** Aborts the uploads of files that will never be committed (best effort; the lifecycle rule is the backstop). */
export async function abortFiles (store: ObjectStore, files: OpenFile[], log: Logger): Promise<void> {
  await Promise.all(files.map(async (f) => {
    const uploadId = await f.settledUploadId()
    if (uploadId === undefined) return
    await store.abortUpload(f.key, uploadId).catch((err: unknown) => {
      log.warn({ key: f.key, err: errorMessage(err) }, 'could not abort upload; the bucket lifecycle rule will')
    })
  }))
}

/** The Kafka partition in a data key's file name (`{generation}_{partition}_{firstOffset}{ext}`). */
export function partitionOfKey (key: string): number | undefined {
  return parseDataKey(key)?.partition
}

/** Generation, partition and first offset of a data key's file name (`{generation}_{partition}_{firstOffset}{ext}`). */
export function parseDataKey (key: string): { generation: number, partition: number, firstOffset: number } | undefined {
  const m = /\/(\d+)_(\d+)_(\d{20})\.[^/]*$/.exec(key)
  return m === null ? undefined : { generation: Number(m[1]), partition: Number(m[2]), firstOffset: Number(m[3]) }
}

function missingError (tp: string, record: CutRecord, missing: string[]): SedimentError {
  return new SedimentError(ErrorCodes.STATE, `${tp}: ${missing.length} upload(s) of the committed cut ${record.startOffset}..${record.endOffset} are gone ` +
    `(${missing.slice(0, 3).join(', ')}); the next owner re-reads the cut from ${record.startOffset}`)
}

function overwriteError (tp: string, f: CutFile, size: number): SedimentError {
  return new SedimentError(ErrorCodes.STATE, `${tp}: refusing to overwrite ${f.key}: an object of ${size} bytes is there, the committed cut has ${f.bytes} ` +
    '(a recreated topic or a second generation under the same name?)')
}

/**
 * What a committer should throw for a failed OffsetCommit from the Kafka client. Its fencing answers are never
 * definite: kafkajs retries a timed-out attempt by itself (re-stamped with the newest generation), so a
 * REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION may follow an attempt that was applied. Any other error is
 * retriable; whether it landed is again unknown, and the protocol treats it so.
 */
export function commitFailure (err: unknown): Error {
  if (isKafkaFencingError(err)) return new FencedError(`commit refused: ${errorMessage(err)}`, { cause: err, definite: false })
  return new SedimentError(ErrorCodes.COMMIT, `commit failed: ${errorMessage(err)}`, { cause: err })
}

/** True only when Kafka refused the commit because this member no longer owns the partition. */
export function isDefinitelyFenced (err: unknown): boolean {
  return err instanceof FencedError ? err.definite : isKafkaFencingError(err)
}

export function stoppedError (): SedimentError {
  return new SedimentError(ErrorCodes.SHUTDOWN, 'sink stopped')
}
