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
 * When the outcome of 3 is unknown (the group rejoined while committing), the writer neither completes nor
 * aborts: if the commit landed, the next owner completes the cut from the metadata; if not, the uploads stay
 * invisible until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them.
 */
import type { Logger } from 'pino'
import { crashPoint } from '../crash-points.js'
import { ErrorCodes, FencedError, SedimentError, errorMessage, isKafkaFencingError } from '../errors.js'
import { retry } from '../retry.js'
import type { AssignedPartition, OffsetCommitter, TopicPartition } from '../types.js'
import {
  decodeMetadata, encodeMetadata, intentKey, manifestKey, manifestPrefix, pad20,
  type CutFile, type CutRecord
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
  onCommitted?: (event: CommitEvent) => void
}

/** Intents younger than this may still be named by a late-landing commit retry (kafkajs retries for ~10 s). */
const INTENT_RETENTION_MS = 15 * 60_000

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

  constructor (options: CommitProtocolOptions) {
    this.#o = options
    this.#log = options.logger
  }

  /** Steps 1–5 for one cut. Never throws for fencing; throws only when the sink is stopped. */
  async finish (cut: Cut): Promise<CutOutcome> {
    const started = Date.now()
    const { store, committer } = this.#o
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
      createdAt: new Date().toISOString()
    }
    const intent = intentKey(this.#o.prefix, cut.topic, cut.partition, cut.endOffset, this.#o.writerId)
    const manifest = manifestKey(this.#o.prefix, cut.topic, cut.partition, this.#o.generation, cut.startOffset, cut.endOffset)

    // 2. intent
    try {
      await retry(async () => { await store.put(intent, Buffer.from(JSON.stringify(record))) }, {
        stop: stillOwner, onRetry: (e, n) => { this.#log.warn({ tp, attempt: n, err: errorMessage(e) }, 'writing intent failed, retrying') }
      })
    } catch (err) {
      await this.#abort(cut, undefined, err)
      return 'fenced'
    }

    crashPoint('after-intent')

    // 3. the fenced commit: the point of no return
    const metadata = encodeMetadata({
      v: 1, intent, manifest, start: cut.startOffset, end: cut.endOffset, ...(cut.maxEventTime !== null ? { wm: cut.maxEventTime } : {}), ct: Date.now()
    })
    // An attempt that failed without a clear answer (timeout, lost connection) may still have landed; from
    // then on, losing the partition leaves the outcome unknown rather than fenced.
    let unknownOutcome = false
    try {
      await retry(async () => {
        try {
          await committer.commit(cut, cut.endOffset, metadata, cut.epoch)
        } catch (err) {
          if (!isDefinitelyFenced(err)) unknownOutcome = true
          throw err
        }
      }, {
        stop: stillOwner,
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
    await this.#completeAll(record, tp)
    const durationMs = Date.now() - started
    this.#o.onCommitted?.({ topic: cut.topic, partition: cut.partition, startOffset: cut.startOffset, endOffset: cut.endOffset, files, reason: cut.reason, durationMs })

    // 5. manifest, then the intent is no longer needed
    await this.#writeManifest(manifest, record, intent, tp)
    return 'committed'
  }

  /**
   * Called once per partition on assignment, before anything of the new epoch is committed: finishes a cut
   * that the previous owner committed but did not complete. Reads only the small intent object, never data.
   */
  async recover (assigned: AssignedPartition): Promise<void> {
    const meta = decodeMetadata(assigned.metadata)
    if (meta === null) return
    const tp = `${assigned.topic}[${assigned.partition}]`
    const stop = (): Error | undefined => this.#o.stopped()
    const body = await retry(async () => await this.#o.store.get(meta.intent), { stop })
    if (body === null) return // intent deleted: the cut was completed and its manifest written
    const record = JSON.parse(body.toString('utf8')) as CutRecord
    if (record.endOffset !== assigned.committedOffset) return // an older intent; a later commit superseded it
    this.#log.info({ tp, endOffset: record.endOffset, files: record.files.length }, 'completing a cut committed by a previous owner')
    await this.#completeAll(record, tp)
    await this.#writeManifest(meta.manifest, record, meta.intent, tp)
  }

  /**
   * Where a new owner must start reading a partition: the committed offset — unless a manifest shows that a later
   * cut was committed before. That happens when kafkajs retried an older commit across a group rejoin (it stamps
   * each retry with the newest generation) and the retry landed late, moving the committed offset back.
   * Resuming there would write records that are already visible a second time; the stale intent the commit names
   * is then superseded, and its uploads are left to the sweeper. Lists only manifests from the stale cut's start
   * on (never data).
   */
  async startOffset (assigned: AssignedPartition): Promise<number | null> {
    const meta = decodeMetadata(assigned.metadata)
    const dir = `${manifestPrefix(this.#o.prefix, assigned.topic)}${assigned.partition}/`
    const startAfter = meta === null ? undefined : `${dir}${this.#o.generation}_${pad20(Math.max(0, meta.start - 1))}`
    let newest: number | null = null
    for await (const o of this.#o.store.list(`${dir}${this.#o.generation}_`, startAfter)) {
      const m = /_(\d{20})\.json$/.exec(o.key)
      if (m !== null) newest = Math.max(newest ?? 0, Number(m[1]))
    }
    if (newest !== null && (assigned.committedOffset === null || newest > assigned.committedOffset)) {
      this.#log.warn({ tp: `${assigned.topic}[${assigned.partition}]`, committed: assigned.committedOffset, resumeAt: newest },
        'committed offset is behind the newest committed cut (a late commit moved it back); resuming after that cut')
      return newest
    }
    return assigned.committedOffset
  }

  /**
   * Aborts multipart uploads that writers of these partitions left behind (killed, or fenced before they could
   * abort). Runs after `recover`, so every upload of a committed cut is already complete; `isLive` spares the
   * uploads this process has started since the assignment. Returns how many were aborted.
   */
  async sweep (topic: string, partitions: Set<number>, isLive: (uploadId: string, key: string) => Promise<boolean>, ownWriterId: string): Promise<number> {
    const { store } = this.#o
    // Intents first. A commit retried by kafkajs can land after this assignment and name a previous writer's
    // intent, which must then still be completable: keep recent intents and everything they reference. Old
    // ones (writers killed or fenced before their commit) are deleted, and their uploads aborted below.
    const referenced = new Set<string>()
    let intents = 0
    for (const partition of partitions) {
      const dir = joinKey(this.#o.prefix, '_sediment', 'intents', topic, String(partition)) + '/'
      for await (const o of store.list(dir)) {
        if (o.key.endsWith(`-${ownWriterId}.json`)) continue
        if (o.lastModified !== undefined && Date.now() - o.lastModified > INTENT_RETENTION_MS) {
          await store.delete(o.key)
          intents++
          continue
        }
        const body = await store.get(o.key)
        if (body === null) continue
        for (const f of (JSON.parse(body.toString('utf8')) as CutRecord).files) referenced.add(f.uploadId)
      }
    }
    let aborted = 0
    for (const dir of [joinKey(this.#o.prefix, topic), joinKey(this.#o.prefix, '_errors', topic)]) {
      for await (const u of store.listUploads(`${dir}/`)) {
        const partition = partitionOfKey(u.key)
        if (partition === undefined || !partitions.has(partition) || referenced.has(u.uploadId)) continue
        if (await isLive(u.uploadId, u.key)) continue
        await store.abortUpload(u.key, u.uploadId)
        aborted++
      }
    }
    if (aborted + intents > 0) this.#log.info({ topic, partitions: [...partitions], aborted, intents }, 'aborted incomplete uploads left by previous writers')
    return aborted
  }

  async #completeAll (record: CutRecord, tp: string): Promise<void> {
    const { store } = this.#o
    await forEachLimited(record.files, COMPLETE_CONCURRENCY, async (f) => {
      await retry(async () => {
        const result = await store.completeUpload(f.key, f.uploadId, f.parts)
        if (result === 'no-such-upload') {
          // Someone completed it already (a previous owner, or a recovering one) — or it was aborted after the
          // commit, which only a lifecycle rule shorter than an outage can do. Tell the two apart by its size.
          const size = await store.size(f.key)
          if (size === null) {
            this.#log.error({ tp, key: f.key }, 'committed upload vanished before completion (lifecycle rule too short?)')
          } else if (size !== f.bytes) {
            this.#log.error({ tp, key: f.key, size, expected: f.bytes }, 'object size differs from the committed cut')
          }
        }
      }, {
        stop: () => this.#o.stopped(),
        onRetry: (e, n) => { this.#log.warn({ tp, key: f.key, attempt: n, err: errorMessage(e) }, 'completing upload failed, retrying') }
      })
    })
  }

  async #writeManifest (manifest: string, record: CutRecord, intent: string, tp: string): Promise<void> {
    const { store } = this.#o
    try {
      await retry(async () => {
        await store.put(manifest, Buffer.from(JSON.stringify({ ...record, committedAt: new Date().toISOString() })))
        await store.delete(intent)
      }, { stop: () => this.#o.stopped(), maxAttempts: 20 })
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
  const m = /\/\d+_(\d+)_\d{20}\.[^/]*$/.exec(key)
  return m === null ? undefined : Number(m[1])
}

/** True only when Kafka refused the commit because this member no longer owns the partition. */
export function isDefinitelyFenced (err: unknown): boolean {
  return err instanceof FencedError ? err.definite : isKafkaFencingError(err)
}

export function stoppedError (): SedimentError {
  return new SedimentError(ErrorCodes.SHUTDOWN, 'sink stopped')
}
