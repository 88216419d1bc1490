import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import pino from 'pino'
import { FileStore } from '../../src/sinks/file-store.js'
import { decodeMetadata } from '../../src/sinks/layout.js'
import { ObjectSink } from '../../src/sinks/object-sink.js'
import { FILE_OVERHEAD_BYTES } from '../../src/sinks/open-file.js'
import type { UploadedPart } from '../../src/sinks/object-store.js'
import type { EncodedBatch, PipelineItem } from '../../src/types.js'
import { Coordinator } from '../helpers/coordinator.js'

const logger = pino({ level: 'silent' })


async function dataKeys (store: FileStore): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list('t/')) keys.push(o.key)
  return keys
}

function batch (offsets: number[], dirOf: (o: number) => string, epoch = 1, partition = 0): EncodedBatch {
  const byDir = new Map<string, number[]>()
  for (const o of offsets) {
    const d = dirOf(o)
    byDir.set(d, [...(byDir.get(d) ?? []), o])
  }
  return {
    kind: 'encoded',
    topic: 't',
    partition,
    epoch,
    firstOffset: offsets[0] as number,
    nextOffset: (offsets.at(-1) as number) + 1,
    rawBytes: offsets.length * 10,
    groups: [...byDir].map(([dir, os]) => ({
      dir,
      extension: '.jsonl',
      firstOffset: os[0] as number,
      lastOffset: os.at(-1) as number,
      records: os.length,
      encodedBytes: os.length * 10,
      data: Buffer.from(os.map((o) => `{"o":${o}}\n`).join(''))
    }))
  }
}

async function write (sink: ObjectSink, items: PipelineItem[]): Promise<void> {
  for (const item of items) {
    if (!sink.write(item)) await new Promise((resolve) => sink.once('drain', resolve))
  }
}

async function setup (t: import('node:test').TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-proto-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = new FileStore({ directory: dir })
  return { dir, store, coordinator: new Coordinator(async () => await dataKeys(store)) }
}

const assign = (epoch: number, committedOffset: number | null = null, metadata: string | null = null): PipelineItem =>
  ({ kind: 'assignment', epoch, partitions: [{ topic: 't', partition: 0, committedOffset, metadata }] })

test('a cut commits its end offset before any of its objects is visible, then shows them', async (t) => {
  const { store, coordinator } = await setup(t)
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 50, partSizeBytes: 5 * 1024 * 1024 })
  const hour = (o: number): string => `t/hr=${o < 3 ? 'a' : 'b'}`
  await write(sink, [assign(1), batch([0, 1, 2, 3, 4], hour), batch([5, 6, 7], hour)])
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.deepEqual(coordinator.commits.map((c) => c.offset), [5, 8])
  // Nothing of a cut is visible at its own commit; the first cut's files are visible at the second commit.
  assert.deepEqual(coordinator.commits[0]?.visibleAtCommit, [])
  assert.deepEqual(coordinator.commits[1]?.visibleAtCommit, ['t/hr=a/1_0_00000000000000000000.jsonl', 't/hr=b/1_0_00000000000000000003.jsonl'])
  // Keys carry the first offset of *that* file, not a shared batch offset.
  assert.deepEqual(await dataKeys(store), [
    't/hr=a/1_0_00000000000000000000.jsonl',
    't/hr=b/1_0_00000000000000000003.jsonl',
    't/hr=b/1_0_00000000000000000005.jsonl'
  ])
  assert.equal((await store.get('t/hr=b/1_0_00000000000000000005.jsonl'))?.toString(), '{"o":5}\n{"o":6}\n{"o":7}\n')
  const meta = decodeMetadata(coordinator.commits[1]?.metadata ?? null)
  assert.ok(meta !== null && meta.start === 5 && meta.end === 8)
  assert.ok((await store.get(meta.manifest)) !== null, 'manifest written')
  assert.equal(await store.get(meta.intent), null, 'intent removed once visible')
  assert.equal(sink.stats().recordsCommitted, 8)
})

test('a fenced writer aborts its uploads and never makes an object visible', async (t) => {
  const { dir, store, coordinator } = await setup(t)
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9 })
  await write(sink, [assign(1), batch([0, 1, 2], () => 't/x')])
  coordinator.fence = true
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.deepEqual(coordinator.commits, [])
  assert.deepEqual(await dataKeys(store), [])
  assert.equal(sink.stats().fencedCuts, 1)
  const uploads = await readdir(join(dir, '_sediment', 'uploads')).catch(() => [])
  assert.deepEqual(uploads, [], 'no incomplete upload left behind')
  const intents = await readdir(join(dir, '_sediment', 'intents', 't', '0')).catch(() => [])
  assert.deepEqual(intents, [], 'intent deleted')
})

test('data of an older epoch is dropped, and a rebalance voids unflushed files', async (t) => {
  const { store, coordinator } = await setup(t)
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9 })
  await write(sink, [assign(1), batch([0, 1], () => 't/x')])
  coordinator.epoch = 2
  await write(sink, [assign(2, null), batch([0, 1, 2], () => 't/x', 1), batch([0, 1, 2, 3], () => 't/x', 2)])
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.deepEqual(coordinator.commits.map((c) => c.offset), [4])
  assert.equal((await store.get('t/x/1_0_00000000000000000000.jsonl'))?.toString().split('\n').length, 5)
})

/** A store whose completeUpload never returns: the process "dies" between commit and completion. */
class StuckStore extends FileStore {
  override async completeUpload (_key: string, _id: string, _parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'> {
    return await new Promise(() => {})
  }
}

test('a new owner completes a cut its previous owner committed but did not complete', async (t) => {
  const { dir, coordinator } = await setup(t)
  const stuck = new StuckStore({ directory: dir })
  const first = new ObjectSink({ store: stuck, committer: coordinator, logger, maxFileBytes: 1 })
  await write(first, [assign(1), batch([0, 1, 2], (o) => `t/h${o % 2}`)])
  for (let i = 0; i < 100 && coordinator.commits.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(coordinator.commits.length, 1)
  first.destroy() // dies before completing
  const store = new FileStore({ directory: dir })
  assert.deepEqual(await dataKeys(store), [], 'committed but not yet visible')

  coordinator.epoch = 2
  const commit = coordinator.commits[0]
  const second = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9 })
  await write(second, [assign(2, commit?.offset ?? null, commit?.metadata ?? null), batch([3, 4], () => 't/h1', 2)])
  await new Promise<void>((resolve) => second.end(resolve))
  assert.deepEqual(await dataKeys(store), [
    't/h0/1_0_00000000000000000000.jsonl',
    't/h1/1_0_00000000000000000001.jsonl',
    't/h1/1_0_00000000000000000003.jsonl'
  ])
  assert.deepEqual(coordinator.commits.map((c) => c.offset), [3, 5])
  // the recovered cut was visible before the new owner's first commit
  assert.equal(coordinator.commits[1]?.visibleAtCommit.length, 2)
})

test('memory stays within the budget: writes wait, and the largest partition is cut when nothing uploads', async (t) => {
  const { store, coordinator } = await setup(t)
  // 2000 data bytes plus the bookkeeping of the 7 files (each open file counts FILE_OVERHEAD_BYTES)
  const budget = 2000 + 7 * FILE_OVERHEAD_BYTES
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e12, maxBufferedBytes: budget, partSizeBytes: 5 * 1024 * 1024 })
  let peak = 0
  const items: PipelineItem[] = [assign(1)]
  for (let i = 0; i < 200; i++) items.push(batch([i * 10, i * 10 + 1, i * 10 + 2, i * 10 + 3, i * 10 + 4, i * 10 + 5, i * 10 + 6, i * 10 + 7, i * 10 + 8, i * 10 + 9], (o) => `t/d${o % 7}`))
  for (const item of items) {
    if (!sink.write(item)) await new Promise((resolve) => sink.once('drain', resolve))
    peak = Math.max(peak, sink.stats().bufferedBytes)
  }
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.ok(peak < budget + 1000, `peak buffered ${peak}`)
  assert.equal(sink.stats().recordsCommitted, 2000)
  assert.ok(coordinator.commits.length > 1, 'memory pressure cut more than once')
})

test('a committed offset that a late commit moved back resumes after the newest committed cut, not at it', async (t) => {
  const { store, coordinator } = await setup(t)
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 50 })
  await write(sink, [assign(1), batch([0, 1, 2, 3, 4], () => 't/x'), batch([5, 6, 7, 8, 9], () => 't/x')])
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.deepEqual(coordinator.commits.map((c) => c.offset), [5, 10])
  const stale = coordinator.commits[0] as { offset: number, metadata: string }
  // a destroyed sink's resolver does no more store work: ask the next process's sink
  const next = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 50 })
  t.after(() => { next.destroy() })
  const resolve = coordinator.resolveStart
  assert.ok(resolve !== undefined, 'the sink installs a start resolver on its committer')
  // the group's offset went back to the first cut (an old commit retried across a rejoin landed late)
  assert.equal(await resolve({ topic: 't', partition: 0, committedOffset: stale.offset, metadata: stale.metadata }), 10)
  // an ordinary assignment keeps its committed offset
  const latest = coordinator.commits[1] as { offset: number, metadata: string }
  assert.equal(await resolve({ topic: 't', partition: 0, committedOffset: latest.offset, metadata: latest.metadata }), 10)
  // offsets lost altogether (e.g. expired by offsets.retention) do not re-export what is already there
  assert.equal(await resolve({ topic: 't', partition: 0, committedOffset: null, metadata: null }), 10)
  assert.equal(await resolve({ topic: 't', partition: 1, committedOffset: null, metadata: null }), null)
})
