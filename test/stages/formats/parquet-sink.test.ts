import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pino from 'pino'
import { FencedError } from '../../../src/errors.js'
import { FileStore } from '../../../src/sinks/file-store.js'
import { ObjectSink } from '../../../src/sinks/object-sink.js'
import { encodeStage } from '../../../src/stages/encode.js'
import { ParquetEncoder } from '../../../src/stages/formats/parquet-writer.js'
import type { AssignmentEvent, EncodedBatch, OffsetCommitter, PipelineItem, TopicPartition } from '../../../src/types.js'
import { openDuck, sqlString } from '../../helpers/duckdb.js'
import { dataGroup, routed } from './helpers.js'

const logger = pino({ level: 'silent' })

/** Stands in for the group coordinator (as in test/sinks/commit-protocol.test.ts): records commits. */
class Coordinator implements OffsetCommitter {
  epoch = 1
  commits: Array<{ tp: TopicPartition, offset: number }> = []
  async commit (tp: TopicPartition, offset: number, _metadata: string, epoch: number): Promise<void> {
    if (epoch !== this.epoch) throw new FencedError('fenced by test')
    this.commits.push({ tp, offset })
  }
}

const assignment = (partitions: number[]): AssignmentEvent =>
  ({ kind: 'assignment', epoch: 1, partitions: partitions.map(partition => ({ topic: 't', partition, committedOffset: null, metadata: null })) })

test('parquet through the sink: many open files under a small memory budget, every record once, memory returns to zero', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sediment-parquet-sink-'))
  t.after(async () => { await rm(root, { recursive: true, force: true }) })
  const store = new FileStore({ directory: root })
  const coordinator = new Coordinator()
  const maxBufferedBytes = 512 * 1024
  const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9, maxFileAgeSeconds: 3600, partSizeBytes: 128 * 1024, maxBufferedBytes })
  const reasons: string[] = []
  sink.events.on('commit', (e: { reason: string }) => { reasons.push(e.reason) })
  let peak = 0
  let negative = false
  const sample = setInterval(() => {
    const b = sink.stats().bufferedBytes
    peak = Math.max(peak, b)
    if (b < 0) negative = true
  }, 2)
  t.after(() => { clearInterval(sample) })

  // 2 partitions × 40 hour directories, 200 batches of 500 records each: 100,000 records
  const items: PipelineItem[] = [assignment([0, 1])]
  const next = [0, 0]
  for (let b = 0; b < 200; b++) {
    const partition = b % 2
    const docs = Array.from({ length: 500 }, () => {
      const offset = next[partition]++ as number
      const hour = (offset * 7 + partition) % 40
      return { offset, value: { id: `${partition}-${offset}`, hour, text: `payload ${offset % 1009} ${'x'.repeat(offset % 50)}`, n: offset } }
    })
    const byHour = new Map<number, typeof docs>()
    for (const d of docs) byHour.set(d.value.hour, [...(byHour.get(d.value.hour) ?? []), d])
    items.push(routed([...byHour].map(([hour, ds]) => dataGroup(`t/hr=${hour}`, ds)), partition))
  }
  await pipeline(Readable.from(items), encodeStage({ format: 'parquet', compression: 'snappy', rowGroupBytes: 64 * 1024 }), sink)
  clearInterval(sample)

  assert.equal(sink.stats().bufferedBytes, 0, 'every held, pending and uploaded byte was released')
  assert.equal(negative, false)
  assert.ok(reasons.includes('memory'), `memory cuts happened: ${[...new Set(reasons)].join(',')}`)
  t.diagnostic(`cuts ${reasons.length} (${reasons.filter(r => r === 'memory').length} for memory), peak buffered ${peak} of ${maxBufferedBytes}`)
  assert.deepEqual(coordinator.commits.filter(c => c.tp.partition === 0).at(-1)?.offset, 50_000)

  const duck = await openDuck(t)
  const pattern = sqlString(join(root, 't', '*', '*.parquet'))
  const [summary] = await duck.rows(`SELECT count(*) n, count(DISTINCT id) ids, count(DISTINCT filename) files,
    count(*) FILTER (WHERE CAST(hr AS INTEGER) = hour) placed FROM read_parquet(${pattern}, hive_partitioning=1, filename=true)`)
  t.diagnostic(`files ${String(summary?.files)}`)
  assert.equal(summary?.n, '100000')
  assert.equal(summary?.ids, '100000', 'each record exactly once')
  assert.equal(summary?.placed, '100000', 'each record in its hour directory')
})

test('chunks of another schema in the same directory start a file of their own in the same cut', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sediment-parquet-sink-'))
  t.after(async () => { await rm(root, { recursive: true, force: true }) })
  const store = new FileStore({ directory: root })
  const sink = new ObjectSink({ store, committer: new Coordinator(), logger, maxFileBytes: 1e9 })
  // Two encoders stand in for a schema forgotten and inferred again (the cache is bounded).
  const encoded = (encoder: ParquetEncoder, from: number, make: (i: number) => unknown): EncodedBatch => {
    const group = dataGroup('t/h=1', Array.from({ length: 10 }, (_, k) => ({ offset: from + k, value: make(from + k) })))
    const r = encoder.encode(group, 0)
    return {
      kind: 'encoded', topic: 't', partition: 0, epoch: 1, firstOffset: from, nextOffset: from + 10, rawBytes: 100,
      groups: [{ dir: 't/h=1', extension: '.parquet', firstOffset: from, lastOffset: from + 9, records: 10, encodedBytes: r.data.length, data: r.data, layout: r.layout }]
    }
  }
  const a = new ParquetEncoder({ compression: 'snappy' })
  const b = new ParquetEncoder({ compression: 'snappy' })
  await pipeline(Readable.from([
    assignment([0]),
    encoded(a, 0, i => ({ id: i })),
    encoded(b, 10, i => ({ id: `s${i}`, other: true })),
    encoded(a, 20, i => ({ id: i }))
  ]), sink)
  const keys: string[] = []
  for await (const o of store.list('t/')) keys.push(o.key)
  assert.deepEqual(keys.sort(), ['t/h=1/1_0_00000000000000000000.parquet', 't/h=1/1_0_00000000000000000010.parquet'])
  const duck = await openDuck(t)
  const rows = await duck.rows(`SELECT filename[-32:] f, count(*) n FROM read_parquet(${sqlString(join(root, 't', '*', '*.parquet'))}, filename=true, union_by_name=true) GROUP BY 1 ORDER BY 1`)
  assert.deepEqual(rows, [{ f: '1_0_00000000000000000000.parquet', n: '20' }, { f: '1_0_00000000000000000010.parquet', n: '10' }])
})
