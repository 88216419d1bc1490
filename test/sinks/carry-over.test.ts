import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import pino from 'pino'
import { FencedError } from '../../src/errors.js'
import { FileStore } from '../../src/sinks/file-store.js'
import { ObjectSink } from '../../src/sinks/object-sink.js'
import type { AssignmentEvent, EncodedBatch, OffsetCommitter, PipelineItem, TopicPartition } from '../../src/types.js'

/** Stands in for the source and the group coordinator: records commits, fences other epochs. */
class Committer implements OffsetCommitter {
  epoch = 1
  carryOverEnabled = false
  commits: Array<{ tp: TopicPartition, offset: number }> = []
  enableCarryOver (): void { this.carryOverEnabled = true }
  async commit (tp: TopicPartition, offset: number, _metadata: string, epoch: number): Promise<void> {
    if (epoch !== this.epoch) throw new FencedError('fenced by test')
    this.commits.push({ tp, offset })
  }
}

function batch (first: number, next: number, epoch: number): EncodedBatch {
  const offsets = Array.from({ length: next - first }, (_, i) => first + i)
  return {
    kind: 'encoded', topic: 't', partition: 0, epoch, firstOffset: first, nextOffset: next, rawBytes: offsets.length * 10,
    groups: [{ dir: 't/x', extension: '.jsonl', firstOffset: first, lastOffset: next - 1, records: offsets.length, encodedBytes: offsets.length * 10, data: Buffer.from(offsets.map((o) => `{"o":${o}}\n`).join('')) }]
  }
}

async function setup (t: TestContext): Promise<{ dir: string, committer: Committer, sink: ObjectSink }> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-carry-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const committer = new Committer()
  const sink = new ObjectSink({ store: new FileStore({ directory: dir }), committer, logger: pino({ level: 'silent' }), maxFileBytes: 1e9, maxFileAgeSeconds: 3600 })
  return { dir, committer, sink }
}

async function write (sink: ObjectSink, items: PipelineItem[]): Promise<void> {
  for (const item of items) if (!sink.write(item)) await new Promise((resolve) => sink.once('drain', resolve))
}

/** Visible data objects: key → offsets in it. */
async function visible (dir: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>()
  for (const e of await readdir(join(dir, 't', 'x')).catch(() => [] as string[])) {
    const text = await readFile(join(dir, 't', 'x', e), 'utf8')
    out.set(e, text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { o: number }).o))
  }
  return out
}

function assignment (epoch: number, committedOffset: number | null, answer: boolean, offered: unknown[][]): AssignmentEvent {
  return {
    kind: 'assignment', epoch, partitions: [{ topic: 't', partition: 0, committedOffset, metadata: null }],
    carryOver: (kept) => { offered.push(kept); return answer }
  }
}

test('a rejoin that keeps a partition nobody committed keeps its open file: one object, one commit, every offset once', async (t) => {
  const { dir, committer, sink } = await setup(t)
  assert.equal(committer.carryOverEnabled, true, 'the sink asks the source for carry-over')
  const offered: unknown[][] = []
  await write(sink, [assignment(1, 0, true, offered), batch(0, 5, 1)])
  committer.epoch = 2
  await write(sink, [assignment(2, 0, true, offered), batch(5, 10, 2)])
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.deepEqual(offered, [[], [{ topic: 't', partition: 0, nextOffset: 5 }]])
  assert.deepEqual(committer.commits.map((c) => c.offset), [10])
  assert.deepEqual([...(await visible(dir)).values()], [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
  assert.equal(sink.stats().carriedOver, 1)
})

test('a partition never committed (no offset yet) is carried over too', async (t) => {
  const { dir, committer, sink } = await setup(t)
  const offered: unknown[][] = []
  await write(sink, [assignment(1, null, true, offered), batch(0, 5, 1)])
  committer.epoch = 2
  await write(sink, [assignment(2, null, true, offered), batch(5, 8, 2)])
  await new Promise<void>((resolve) => sink.end(resolve))
  assert.deepEqual(offered[1], [{ topic: 't', partition: 0, nextOffset: 5 }])
  assert.deepEqual([...(await visible(dir)).values()], [[0, 1, 2, 3, 4, 5, 6, 7]])
})

test('not carried over: someone committed in between, or the source refused; the data is read again from the commit', async (t) => {
  for (const [committed, answer] of [[3, true], [0, false]] as const) {
    const { dir, committer, sink } = await setup(t)
    const offered: unknown[][] = []
    await write(sink, [assignment(1, 0, true, offered), batch(0, 5, 1)])
    committer.epoch = 2
    await write(sink, [assignment(2, committed, answer, offered), batch(committed, 9, 2)])
    await new Promise<void>((resolve) => sink.end(resolve))
    assert.deepEqual(offered[1], committed === 0 ? [{ topic: 't', partition: 0, nextOffset: 5 }] : [])
    assert.deepEqual(committer.commits.map((c) => c.offset), [9])
    const objects = [...(await visible(dir)).values()]
    assert.deepEqual(objects, [Array.from({ length: 9 - committed }, (_, i) => committed + i)], `committed=${committed} answer=${String(answer)}`)
    assert.equal(sink.stats().carriedOver, 0)
  }
})
