/**
 * Helpers for the chaos tests (test/chaos/): uniquely tagged message batches (one per fault, so each fault gets
 * its own exactly-once verdict), a producer that trickles a batch over a fault window, a watcher of the
 * service's JSON log, and a check that every committed offset is durable in the bucket.
 */
import type { ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { CompressionTypes, Kafka, logLevel, type Admin } from 'kafkajs'
import { sampleMessages, type SampleMessage, type SampleOptions } from '../../src/demo/sample-data.js'
import { decodeMetadata, type CutRecord } from '../../src/sinks/layout.js'
import { BUCKET, kafkaAdmin, verify, type Output, type Stack, type Verdict } from './e2e.js'

/** sampleMessages with every id (and bad-message tag) prefixed by `tag`, so batches never collide in verify. */
export function taggedMessages (tag: string, options: SampleOptions): SampleMessage[] {
  return sampleMessages(options).map((m) => {
    if (m.value === null) return m
    if (m.id !== undefined) {
      const body = JSON.parse(m.value.toString('utf8')) as Record<string, unknown>
      const id = `${tag}-${m.id}`
      return { ...m, id, value: Buffer.from(JSON.stringify({ ...body, id })) }
    }
    // bad messages carry `bad-<kind>-<n>` in their bytes; latin1 keeps invalid UTF-8 byte for byte
    return { ...m, value: Buffer.from(m.value.toString('latin1').replace(/bad-/g, `${tag}-bad-`), 'latin1') }
  })
}

/** Produces `messages` in `chunks` sends spread evenly over `durationMs` (the first at once). */
export async function produceOverTime (brokers: string[], topic: string, messages: SampleMessage[], options: { durationMs: number, chunks: number, signal?: AbortSignal }): Promise<void> {
  if (messages.length === 0) return
  const kafka = new Kafka({ clientId: 'sediment-chaos-producer', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 200 } })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  try {
    await producer.connect() // inside the try: a client that failed to connect must be disconnected too
    const size = Math.ceil(messages.length / options.chunks)
    const started = Date.now()
    for (let i = 0, n = 0; i < messages.length; i += size, n++) {
      const due = started + (n * options.durationMs) / options.chunks
      if (due > Date.now()) await sleep(due - Date.now(), undefined, options.signal !== undefined ? { signal: options.signal } : {})
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: messages.slice(i, i + size).map((m) => ({ partition: m.partition, value: m.value, timestamp: String(m.timestamp) }))
      })
    }
  } finally {
    await producer.disconnect().catch(() => {})
  }
}

/**
 * The child's exit, or undefined if it is still running after `ms`. The timer is unref'd: a pending timeout must
 * not hold the test process open after the child has exited.
 */
export async function exitWithin (exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>, ms: number): Promise<{ code: number | null, signal: NodeJS.Signals | null } | undefined> {
  return await Promise.race([exited, sleep(ms, undefined, { ref: false })])
}

export interface LogLine { level: number, msg: string, [field: string]: unknown }

/** Reads the service's pino JSON lines from a child process and keeps counts and a few examples per message. */
export class LogWatcher {
  readonly counts = new Map<string, number>()
  readonly examples = new Map<string, LogLine[]>()
  #buf = ''

  constructor (child: ChildProcess) {
    const feed = (chunk: Buffer): void => {
      this.#buf += chunk.toString('utf8')
      for (let nl = this.#buf.indexOf('\n'); nl !== -1; nl = this.#buf.indexOf('\n')) {
        const line = this.#buf.slice(0, nl)
        this.#buf = this.#buf.slice(nl + 1)
        if (line.startsWith('{')) this.#add(line)
      }
    }
    child.stdout?.on('data', feed)
    child.stderr?.on('data', feed)
  }

  /** Lines whose msg matches. */
  count (msg: string | RegExp): number {
    let n = 0
    for (const [m, c] of this.counts) if (typeof msg === 'string' ? m === msg : msg.test(m)) n += c
    return n
  }

  /** Counts of all messages matching, e.g. /retrying/ → { 'upload failed, retrying': 12, ... }. */
  breakdown (msg: RegExp): Record<string, number> {
    return Object.fromEntries([...this.counts].filter(([m]) => msg.test(m)))
  }

  snapshot (): Map<string, number> {
    return new Map(this.counts)
  }

  /** Per-message increments since `before`, for the messages matching `msg`. */
  since (before: Map<string, number>, msg: RegExp): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [m, c] of this.counts) {
      const d = c - (before.get(m) ?? 0)
      if (d > 0 && msg.test(m)) out[m] = d
    }
    return out
  }

  #add (line: string): void {
    let entry: LogLine
    try {
      entry = JSON.parse(line) as LogLine
    } catch {
      return
    }
    const msg = String(entry.msg)
    this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1)
    const ex = this.examples.get(msg) ?? []
    if (ex.length < 3) ex.push(entry)
    this.examples.set(msg, ex)
  }
}

export interface CommittedPartition { partition: number, offset: number, metadata: string | null }

/** Committed offsets with their metadata (offset -1: none). */
export async function committedWithMetadata (stack: Stack, groupId: string, topic: string): Promise<CommittedPartition[]> {
  return await withAdmin(stack, async (admin) => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return (t?.partitions ?? []).map((p) => ({ partition: p.partition, offset: Number(p.offset), metadata: p.metadata ?? null }))
      .sort((a, b) => a.partition - b.partition)
  })
}

/**
 * Runs `fn` with a connected admin client and always disconnects it — also when connecting fails (a broker is
 * down): a kafkajs client that failed to connect keeps retry timers and sockets alive, which holds the test
 * process open long after the test ended.
 */
export async function withAdmin<T> (stack: Stack, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaAdmin(stack)
  try {
    await admin.connect()
    return await fn(admin)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

/** Like e2e's allCommitted (every non-empty partition committed at its end offset), through withAdmin. */
export async function everythingCommitted (stack: Stack, groupId: string, topic: string): Promise<boolean> {
  return await withAdmin(stack, async (admin) => {
    const [[t], end] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)])
    const committed = new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
    return end.every((p) => Number(p.high) === 0 || committed.get(p.partition) === Number(p.high))
  })
}

/**
 * Every committed offset must be durable: the commit's metadata names an intent that is still in the bucket
 * (its uploads completed or still open, so a new owner can complete them) or, once the cut is finished, its
 * manifest, whose objects are all visible with the recorded sizes. Read straight from the test server, not
 * through the fault proxy. Returns the violations (empty = fine).
 */
export async function undurableCommits (stack: Stack, committed: CommittedPartition[]): Promise<string[]> {
  return (await checkCommits(stack, committed)).problems
}

/** As undurableCommits, plus how many commits are durable but not yet visible (intent present, uploads open). */
export async function checkCommits (stack: Stack, committed: CommittedPartition[]): Promise<{ problems: string[], pending: number }> {
  const problems: string[] = []
  let pending = 0
  const openUploads = new Set((await stack.s3.listIncompleteUploads(BUCKET)).map((u) => u.uploadId))
  for (const c of committed) {
    if (c.offset < 0) continue
    const meta = decodeMetadata(c.metadata)
    if (meta === null) {
      problems.push(`partition ${c.partition}: commit ${c.offset} has no Sediment metadata`)
      continue
    }
    if (meta.end !== c.offset) problems.push(`partition ${c.partition}: commit ${c.offset} names a cut ending at ${meta.end}`)
    // the intent first: it is deleted only after the manifest is written
    const intent = await getJson(stack, meta.intent)
    const record = intent ?? await getJson(stack, meta.manifest)
    if (record === null) {
      problems.push(`partition ${c.partition}: commit ${c.offset}: neither intent ${meta.intent} nor manifest ${meta.manifest} exists`)
      continue
    }
    let open = false
    for (const f of record.files) {
      const size = await objectSize(stack, f.key)
      if (size === f.bytes) continue
      if (size === null && intent !== null && openUploads.has(f.uploadId)) { open = true; continue } // committed, not yet completed
      // the upload may have been completed between the listing and the HEAD: look once more
      const again = await objectSize(stack, f.key)
      if (again !== f.bytes) problems.push(`partition ${c.partition}: commit ${c.offset}: ${f.key} is ${size ?? 'missing'} bytes, expected ${f.bytes} (upload ${f.uploadId} ${openUploads.has(f.uploadId) ? 'open' : 'gone'})`)
    }
    if (open) pending++
  }
  return { problems, pending }
}

/** Keys under the protocol's intents prefix: cuts not finished (manifest not written or intent not deleted). */
export async function leftoverIntents (stack: Stack, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let token: string | undefined
  do {
    const page = await stack.s3Client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/_sediment/intents/`, ContinuationToken: token }))
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key)
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return keys
}

/**
 * Per partition, the end offset of the newest finished cut (from the manifest names). Visible data never runs
 * ahead of the committed offset: a manifest is written only after its commit, so list manifests first, then read
 * the committed offsets, and `committed >= manifest end` holds — unless a commit that kafkajs retried across a
 * rejoin landed late and moved the offset back (commit-race.test.ts); a new owner then resumes after the newest
 * manifest instead (CommitProtocol.startOffset).
 */
export async function manifestEnds (stack: Stack, prefix: string, topic: string): Promise<Map<number, number>> {
  const ends = new Map<number, number>()
  let token: string | undefined
  do {
    const page = await stack.s3Client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/_sediment/manifests/${topic}/`, ContinuationToken: token }))
    for (const o of page.Contents ?? []) {
      const m = /\/(\d+)\/\d+_(\d+)_(\d+)\.json$/.exec(o.Key ?? '')
      if (m === null) continue
      const partition = Number(m[1])
      ends.set(partition, Math.max(ends.get(partition) ?? 0, Number(m[3])))
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return ends
}

/** Partitions whose committed offset is behind their newest finished cut (see manifestEnds). */
export function committedBehindVisible (ends: Map<number, number>, committed: CommittedPartition[]): string[] {
  return committed.flatMap((c) => {
    const end = ends.get(c.partition)
    return end !== undefined && c.offset < end ? [`partition ${c.partition}: committed ${c.offset} is behind visible data up to ${end}`] : []
  })
}

/** Runs `check`, treating a failure (e.g. Kafka unreachable during a broker fault) as "not yet". */
export function tolerant (check: () => Promise<boolean>): () => Promise<boolean> {
  return async () => await check().catch(() => false)
}

async function getJson (stack: Stack, key: string): Promise<CutRecord | null> {
  try {
    const out = await stack.s3Client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    return JSON.parse(await (out.Body as { transformToString: () => Promise<string> }).transformToString()) as CutRecord
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return null
    throw err
  }
}

async function objectSize (stack: Stack, key: string): Promise<number | null> {
  try {
    return (await stack.s3Client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength ?? 0
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null
    throw err
  }
}

/** The verdict for one batch: the output restricted to the batch's ids (and, for bad messages, its tag). */
export function verifyBatch (messages: SampleMessage[], output: Output, tag: string): Verdict {
  const good = new Map([...output.good].filter(([id]) => id.startsWith(`${tag}-`)))
  const bad = new Map([...output.bad].filter(([b64]) => Buffer.from(b64, 'base64').toString('latin1').includes(`${tag}-bad-`)))
  return verify(messages, { ...output, good, bad })
}

/** Ids in the bucket that belong to no batch (would be duplicates or garbage). */
export function unexpectedIds (batches: SampleMessage[][], output: Output): string[] {
  const ids = new Set(batches.flatMap((b) => b.map((m) => m.id)))
  return [...output.good.keys()].filter((id) => !ids.has(id))
}

export function summaryLine (fault: string, v: Verdict, extra = ''): string {
  return `fault=${fault} produced=${v.produced + v.badProduced} found=${v.found + v.badFound} lost=${v.lost + v.badLost} duplicated=${v.duplicated + v.badDuplicated}${extra === '' ? '' : ` ${extra}`}`
}

export const sumOffsets = (m: Map<number, number> | CommittedPartition[]): number =>
  (Array.isArray(m) ? m.map((c) => c.offset) : [...m.values()]).reduce((a, b) => a + Math.max(b, 0), 0)
