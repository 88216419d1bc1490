/**
 * Edge cases of the commit protocol (issue 10, items 1, 2, 4, 8, 9 and the intent clock), against the real
 * FileStore and a stand-in for the group coordinator that behaves like KafkaSource.commit over kafkajs.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import { FencedError } from '../../src/errors.js'
import { CommitProtocol, INTENT_RETENTION_MS, commitFailure, type Cut } from '../../src/sinks/commit-protocol.js'
import { FileStore } from '../../src/sinks/file-store.js'
import { decodeMetadata, encodeMetadata, intentKey, manifestKey, type CutFile } from '../../src/sinks/layout.js'
import { ObjectSink } from '../../src/sinks/object-sink.js'
import type { UploadedPart } from '../../src/sinks/object-store.js'
import type { OpenFile } from '../../src/sinks/open-file.js'
import type { AssignedPartition, EncodedBatch, OffsetCommitter, PipelineItem, TopicPartition } from '../../src/types.js'

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' })

/** A kafkajs fencing answer as KafkaSource sees it. */
const rebalancing = (): Error => Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { type: 'REBALANCE_IN_PROGRESS' })

/**
 * The group coordinator as KafkaSource.commit presents it. `next` decides the fate of the next commit:
 * 'applied-then-refused': a timed-out attempt was applied, kafkajs's retry got REBALANCE_IN_PROGRESS (group moved on);
 * 'late': not applied yet, the group rejoined meanwhile; the retry lands when the test calls `landLate()`.
 */
class Coordinator implements OffsetCommitter {
  epoch = 1
  committed: { offset: number, metadata: string } | null = null
  next: 'ok' | 'applied-then-refused' | 'late' = 'ok'
  #late: Array<() => void> = []
  resolveStart: ((a: AssignedPartition) => Promise<number | null>) | undefined
  setStartResolver (fn: (a: AssignedPartition) => Promise<number | null>): void { this.resolveStart = fn }
  async commit (_tp: TopicPartition, offset: number, metadata: string, epoch: number): Promise<void> {
    if (epoch !== this.epoch) throw new FencedError('changed owner before commit')
    const mode = this.next
    this.next = 'ok'
    if (mode === 'applied-then-refused') {
      this.committed = { offset, metadata }
      this.epoch++
      throw commitFailure(rebalancing())
    }
    if (mode === 'late') {
      this.#late.push(() => { this.committed = { offset, metadata } })
      this.epoch++
      throw new FencedError('group rejoined while committing', { definite: false })
    }
    this.committed = { offset, metadata }
  }

  landLate (): void { for (const f of this.#late.splice(0)) f() }
  assignment (): AssignedPartition {
    return { topic: 't', partition: 0, committedOffset: this.committed?.offset ?? null, metadata: this.committed?.metadata ?? null }
  }
}

/** FileStore that reports each finished listing of uploads (the sweep's last step). */
class WatchedStore extends FileStore {
  uploadListings = 0
  override async * listUploads (prefix: string): AsyncIterable<{ key: string, uploadId: string }> {
    try { yield * super.listUploads(prefix) } finally { this.uploadListings++ }
  }
}

function batch (from: number, to: number, epoch: number): EncodedBatch {
  const offsets = Array.from({ length: to - from }, (_, i) => from + i)
  return {
    kind: 'encoded',
    topic: 't',
    partition: 0,
    epoch,
    firstOffset: from,
    nextOffset: to,
    rawBytes: offsets.length * 10,
    groups: [{
      dir: 't/x',
      extension: '.jsonl',
      firstOffset: from,
      lastOffset: to - 1,
      records: offsets.length,
      encodedBytes: offsets.length * 10,
      data: Buffer.from(offsets.map((o) => `{"o":${o}}\n`).join(''))
    }]
  }
}

async function write (sink: ObjectSink, items: PipelineItem[]): Promise<void> {
  for (const item of items) {
    if (!sink.write(item)) await new Promise((resolve) => sink.once('drain', resolve))
  }
}

const end = async (sink: ObjectSink): Promise<void> => { await new Promise<void>((resolve) => sink.end(resolve)) }

async function setup (t: import('node:test').TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-edges-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = new WatchedStore({ directory: dir })
  return { dir, store, coordinator: new Coordinator() }
}

async function uploadIds (store: FileStore, prefix = 't/'): Promise<string[]> {
  const ids: string[] = []
  for await (const u of store.listUploads(prefix)) ids.push(u.uploadId)
  return ids.sort()
}

/** Every offset in visible data objects, in key order. */
async function visibleOffsets (store: FileStore): Promise<number[]> {
  const out: number[] = []
  for await (const o of store.list('t/')) {
    const body = (await store.get(o.key))?.toString() ?? ''
    for (const line of body.split('\n')) if (line !== '') out.push((JSON.parse(line) as { o: number }).o)
  }
  return out
}

/** What a new process does on assignment: resolve the start, recover, then read from there. */
async function nextOwner (store: FileStore, coordinator: Coordinator, epoch: number, readUpTo: number, writerId: string): Promise<{ sink: ObjectSink, start: number | null }> {
  coordinator.epoch = epoch
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, writerId })
  const a = coordinator.assignment()
  const start = await coordinator.resolveStart?.(a) ?? a.committedOffset
  await write(sink, [{ kind: 'assignment', epoch, partitions: [{ ...a, committedOffset: start }] }])
  if ((start ?? 0) < readUpTo) await write(sink, [batch(start ?? 0, readUpTo, epoch)])
  await end(sink)
  return { sink, start }
}

test('item 2: a fencing answer after an attempt that landed leaves the cut ambiguous and completable, not aborted', async (t) => {
  const { store, coordinator } = await setup(t)
  const first = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, writerId: 'w1' })
  await write(first, [{ kind: 'assignment', epoch: 1, partitions: [coordinator.assignment()] }, batch(0, 5, 1)])
  coordinator.next = 'applied-then-refused'
  await end(first)
  assert.equal(coordinator.committed?.offset, 5, 'the commit landed')
  assert.equal(first.stats().fencedCuts, 0, 'not taken for a definite fence')
  assert.equal(first.stats().ambiguousCuts, 1)
  const meta = decodeMetadata(coordinator.committed?.metadata ?? null)
  assert.ok(meta !== null)
  assert.notEqual(await store.get(meta.intent), null, 'intent kept for the next owner')
  assert.equal((await uploadIds(store)).length, 1, 'upload kept for the next owner')
  // the next owner completes it and continues after it
  const { start } = await nextOwner(store, coordinator, 3, 8, 'w2')
  assert.equal(start, 5)
  assert.deepEqual(await visibleOffsets(store), [0, 1, 2, 3, 4, 5, 6, 7])
})

test('item 2: a commit naming neither an intent nor a manifest that exist resumes at its start, not at the committed offset', async (t) => {
  const { store, coordinator } = await setup(t)
  coordinator.committed = {
    offset: 5,
    metadata: encodeMetadata({ v: 1, intent: intentKey('', 't', 0, 1, 5, 'gone'), manifest: manifestKey('', 't', 0, 1, 0, 5), start: 0, end: 5 })
  }
  const { start } = await nextOwner(store, coordinator, 2, 8, 'w2')
  assert.equal(start, 0)
  assert.deepEqual(await visibleOffsets(store), [0, 1, 2, 3, 4, 5, 6, 7])
})

test('item 1: a writer\'s own sweep keeps the uploads of its own ambiguous cut, so a late-landing commit stays completable', async (t) => {
  const { store, coordinator } = await setup(t)
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, writerId: 'w1' })
  t.after(() => { sink.destroy() })
  await write(sink, [{ kind: 'assignment', epoch: 1, partitions: [coordinator.assignment()] }, batch(0, 5, 1)])
  coordinator.next = 'late'
  await write(sink, [{ kind: 'flush' }])
  for (let i = 0; i < 500 && sink.stats().ambiguousCuts === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(sink.stats().ambiguousCuts, 1)
  const before = await uploadIds(store)
  assert.equal(before.length, 1)
  // the group rejoined: the same process keeps the partition; its sweep runs after recovery
  const listings = store.uploadListings
  await write(sink, [{ kind: 'assignment', epoch: 2, partitions: [coordinator.assignment()] }])
  for (let i = 0; i < 500 && store.uploadListings < listings + 2; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(store.uploadListings >= listings + 2, 'the sweep ran')
  assert.deepEqual(await uploadIds(store), before, 'the sweep left the ambiguous cut\'s upload alone')
  // kafkajs's retry of that commit lands now; the next owner completes the cut
  coordinator.landLate()
  assert.equal(coordinator.committed?.offset, 5)
  sink.destroy()
  const { start } = await nextOwner(store, coordinator, 3, 8, 'w2')
  assert.equal(start, 5)
  assert.deepEqual(await visibleOffsets(store), [0, 1, 2, 3, 4, 5, 6, 7])
})

test('item 1: a committed cut whose uploads are gone is re-read from its start (same keys, no duplicates)', async (t) => {
  const { store, coordinator } = await setup(t)
  const first = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, writerId: 'w1' })
  await write(first, [{ kind: 'assignment', epoch: 1, partitions: [coordinator.assignment()] }, batch(0, 5, 1)])
  coordinator.next = 'late'
  await end(first)
  coordinator.landLate()
  // someone aborted the committed cut's upload (a sweeper of an older version, a short lifecycle rule)
  for await (const u of store.listUploads('t/')) await store.abortUpload(u.key, u.uploadId)
  const { start } = await nextOwner(store, coordinator, 3, 8, 'w2')
  assert.equal(start, 0)
  assert.deepEqual(await visibleOffsets(store), [0, 1, 2, 3, 4, 5, 6, 7])
})

test('item 9: a sweep leaves another generation\'s uploads and intents on the same prefix alone', async (t) => {
  const { store, coordinator } = await setup(t)
  const otherId = await store.createUpload('t/x/2_0_00000000000000000000.jsonl')
  await store.put(intentKey('', 't', 0, 2, 5, 'other'), Buffer.from(JSON.stringify({ files: [] })))
  const mineId = await store.createUpload('t/x/1_0_00000000000000000000.jsonl')
  const protocol = new CommitProtocol({ store, committer: coordinator, prefix: '', generation: 1, writerId: 'w1', logger, stopped: () => undefined })
  assert.equal(await protocol.sweep('t', new Set([0]), async () => false), 1)
  assert.deepEqual(await uploadIds(store), [otherId])
  assert.notEqual(await store.get(intentKey('', 't', 0, 2, 5, 'other')), null)
  assert.ok(mineId !== otherId)
})

test('intent retention is measured on the store\'s clock, not this host\'s', async (t) => {
  const { dir, store, coordinator } = await setup(t)
  const young = intentKey('', 't', 0, 1, 5, 'young')
  const old = intentKey('', 't', 0, 1, 3, 'old')
  const youngId = await store.createUpload('t/x/1_0_00000000000000000003.jsonl')
  const oldId = await store.createUpload('t/x/1_0_00000000000000000000.jsonl')
  const file = (key: string, uploadId: string): unknown => ({ key: 't/x/' + key, uploadId, parts: [] })
  await store.put(young, Buffer.from(JSON.stringify({ files: [file('1_0_00000000000000000003.jsonl', youngId)] })))
  await store.put(old, Buffer.from(JSON.stringify({ files: [file('1_0_00000000000000000000.jsonl', oldId)] })))
  const past = (Date.now() - INTENT_RETENTION_MS - 60_000) / 1000
  await utimes(join(dir, ...old.split('/')), past, past)
  // this host's clock runs an hour fast: a naive comparison would take the young intent for an expired one
  const realNow = Date.now
  Date.now = () => realNow() + 3_600_000
  t.after(() => { Date.now = realNow })
  const protocol = new CommitProtocol({ store, committer: coordinator, prefix: '', generation: 1, writerId: 'w1', logger, stopped: () => undefined })
  assert.equal(await protocol.sweep('t', new Set([0]), async () => false), 1)
  Date.now = realNow
  assert.deepEqual(await uploadIds(store), [youngId])
  assert.notEqual(await store.get(young), null)
  assert.equal(await store.get(old), null)
})

test('item 4: completing a committed cut never overwrites an object that is already there with other content', async (t) => {
  const { store, coordinator } = await setup(t)
  const first = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, writerId: 'w1' })
  await write(first, [{ kind: 'assignment', epoch: 1, partitions: [coordinator.assignment()] }, batch(0, 5, 1)])
  coordinator.next = 'late'
  await end(first)
  coordinator.landLate()
  // an object of another archive sits under the same key (e.g. a recreated topic)
  await store.put('t/x/1_0_00000000000000000000.jsonl', Buffer.from('older archive\n'))
  const protocol = new CommitProtocol({ store, committer: coordinator, prefix: '', generation: 1, writerId: 'w2', logger, stopped: () => undefined })
  await assert.rejects(protocol.recover(coordinator.assignment()), /refusing to overwrite/)
  assert.equal((await store.get('t/x/1_0_00000000000000000000.jsonl'))?.toString(), 'older archive\n')
})

/** Counts writes of any kind. */
class CountingStore extends FileStore {
  writes = 0
  override async put (key: string, body: Buffer): Promise<void> { this.writes++; await super.put(key, body) }
  override async delete (key: string): Promise<void> { this.writes++; await super.delete(key) }
  override async abortUpload (key: string, id: string): Promise<void> { this.writes++; await super.abortUpload(key, id) }
  override async completeUpload (key: string, id: string, parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'> { this.writes++; return await super.completeUpload(key, id, parts) }
}

test('item 8: commit metadata naming keys this generation did not derive is rejected at once, and nothing is touched', async (t) => {
  const { dir, store, coordinator } = await setup(t)
  await store.put('t/x/1_0_00000000000000000000.jsonl', Buffer.from('{"o":0}\n'))
  const manifest = manifestKey('', 't', 0, 1, 0, 5)
  await store.put(manifest, Buffer.from(JSON.stringify({ files: [{ key: 't/x/1_0_00000000000000000000.jsonl', uploadId: 'x', parts: [] }] })))
  const counting = new CountingStore({ directory: dir })
  const protocol = new CommitProtocol({ store: counting, committer: coordinator, prefix: '', generation: 1, writerId: 'w2', logger, stopped: () => undefined })
  const bogus = (m: object): AssignedPartition => ({ topic: 't', partition: 0, committedOffset: 5, metadata: encodeMetadata({ v: 1, start: 0, end: 5, ...m } as never) })
  // a manifest named as the intent, a data object named as the manifest
  const a = bogus({ intent: manifest, manifest: 't/x/1_0_00000000000000000000.jsonl' })
  await assert.rejects(protocol.recover(a), /commit metadata of t\[0\] rejected/)
  assert.equal(await protocol.startOffset(a), 5, 'the resolver keeps the committed offset; recovery refuses the partition')
  // well-formed keys, but the intent lists a key outside this partition's data
  const intent = intentKey('', 't', 0, 1, 5, 'evil')
  await store.put(intent, Buffer.from(JSON.stringify({ topic: 't', partition: 0, startOffset: 0, endOffset: 5, files: [{ key: manifest, uploadId: 'x', parts: [] }] })))
  await assert.rejects(protocol.recover(bogus({ intent, manifest: manifestKey('', 't', 0, 1, 0, 5) })), /does not describe the committed cut/)
  // another generation's keys
  await assert.rejects(protocol.recover(bogus({ intent: intentKey('', 't', 0, 7, 5, 'w'), manifest: manifestKey('', 't', 0, 7, 0, 5) })), /rejected/)
  assert.equal(counting.writes, 0)
  assert.equal((await store.get('t/x/1_0_00000000000000000000.jsonl'))?.toString(), '{"o":0}\n')
})

/** A store whose completions never answer, or always fail. */
class HungStore extends FileStore {
  completions = 0
  constructor (directory: string, readonly mode: 'never' | 'fail') { super({ directory }) }
  override async completeUpload (_key: string, _id: string, _parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'> {
    this.completions++
    if (this.mode === 'fail') throw new Error('store keeps failing')
    return await new Promise(() => {})
  }
}

for (const mode of ['never', 'fail'] as const) {
  test(`item 8: shutdown ends recovery's retries at once, even when the store ${mode === 'never' ? 'never answers' : 'keeps failing'}`, async (t) => {
    const { dir, store, coordinator } = await setup(t)
    const first = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, writerId: 'w1' })
    await write(first, [{ kind: 'assignment', epoch: 1, partitions: [coordinator.assignment()] }, batch(0, 5, 1)])
    coordinator.next = 'late'
    await end(first)
    coordinator.landLate()
    const hung = new HungStore(dir, mode)
    const controller = new AbortController()
    const protocol = new CommitProtocol({ store: hung, committer: coordinator, prefix: '', generation: 1, writerId: 'w2', logger, stopped: () => controller.signal.aborted ? new Error('sink stopped') : undefined, signal: controller.signal })
    const recovering = protocol.recover(coordinator.assignment())
    recovering.catch(() => {})
    for (let i = 0; i < 300 && hung.completions === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.ok(hung.completions > 0)
    const stopAt = Date.now()
    controller.abort(new Error('sink stopped'))
    const outcome = await Promise.race([recovering.then(() => 'done', () => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000))])
    assert.equal(outcome, 'stopped')
    assert.ok(Date.now() - stopAt < 1000, `stopped after ${Date.now() - stopAt} ms`)
    const calls = hung.completions
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(hung.completions, calls, 'no attempt after the stop')
  })
}

test('a writer paused between its intent and its commit longer than a third of the retention gives the cut up instead of committing', async (t) => {
  const { store } = await setup(t)
  const key = 't/x/1_0_00000000000000000000.jsonl'
  const uploadId = await store.createUpload(key)
  const part = await store.uploadPart(key, uploadId, 1, Buffer.from('{"o":0}\n'))
  const file: CutFile = { key, uploadId, parts: [part], firstOffset: 0, lastOffset: 0, records: 1, bytes: 8, encodedBytes: 8, sha256: '' }
  let commits = 0
  const committer: OffsetCommitter = { epoch: 1, commit: async () => { commits++ } }
  // the monotonic clock reads 0 when the intent is written, and then a retention later (the process was paused)
  let reads = 0
  const protocol = new CommitProtocol({
    store, committer, prefix: '', generation: 1, writerId: 'w1', logger, stopped: () => undefined,
    now: () => reads++ === 0 ? 0 : INTENT_RETENTION_MS
  })
  const cut: Cut = {
    topic: 't', partition: 0, epoch: 1, startOffset: 0, endOffset: 1, maxEventTime: null, reason: 'size',
    files: [{ key, uploaded: async () => file, settledUploadId: async () => uploadId } as unknown as OpenFile]
  }
  assert.equal(await protocol.finish(cut), 'fenced')
  assert.equal(commits, 0, 'no commit sent')
  assert.deepEqual(await uploadIds(store), [], 'its upload aborted')
  const intents: string[] = []
  for await (const o of store.list('_sediment/intents/')) intents.push(o.key)
  assert.deepEqual(intents, [], 'its intent deleted')
})

test('a late commit of a cut that a later owner already redid (a manifest from its start on) resumes after that manifest', async (t) => {
  const { store, coordinator } = await setup(t)
  const key = 't/x/1_0_00000000000000000000.jsonl'
  // the redone cut 0..2: visible, with its manifest
  await store.put(key, Buffer.from('{"o":0}\n{"o":1}\n'))
  await store.put(manifestKey('', 't', 0, 1, 0, 2), Buffer.from('{}'))
  // the stale cut 0..5 whose kafkajs retry landed afterwards: its intent and upload are still there
  const uploadId = await store.createUpload(key)
  const body = Buffer.from([0, 1, 2, 3, 4].map((o) => `{"o":${o}}\n`).join(''))
  const part = await store.uploadPart(key, uploadId, 1, body)
  const intent = intentKey('', 't', 0, 1, 5, 'w1')
  await store.put(intent, Buffer.from(JSON.stringify({
    version: 1, topic: 't', partition: 0, generation: 1, startOffset: 0, endOffset: 5, writerId: 'w1', maxEventTime: null, createdAt: '',
    files: [{ key, uploadId, parts: [part], firstOffset: 0, lastOffset: 4, records: 5, bytes: body.length, encodedBytes: body.length, sha256: '' }]
  })))
  const protocol = new CommitProtocol({ store, committer: coordinator, prefix: '', generation: 1, writerId: 'w2', logger, stopped: () => undefined })
  const a: AssignedPartition = { topic: 't', partition: 0, committedOffset: 5, metadata: encodeMetadata({ v: 1, intent, manifest: manifestKey('', 't', 0, 1, 0, 5), start: 0, end: 5 }) }
  assert.equal(await protocol.startOffset(a), 2)
  await protocol.recover({ ...a, committedOffset: 2 }) // superseded: left alone
  assert.equal((await store.get(key))?.toString(), '{"o":0}\n{"o":1}\n')
})
