import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Transform } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { PipelineItem, RecordBatch } from '../../src/types.js'
import { TopicRoutes } from '../../src/stages/topic-routes.js'
import { parseStage } from '../../src/stages/parse.js'
import { partitionStage } from '../../src/stages/partition.js'
import { record, recordBatch, run } from './helpers.js'

/** A stage that tags batches with its name after a delay (slow chains must not be overtaken by control items). */
function tagger (name: string, delayMs: number): Transform {
  return new Transform({
    objectMode: true,
    highWaterMark: 1,
    transform (item: PipelineItem, _e, callback) {
      if (item.kind !== 'batch') { callback(null, item); return }
      setTimeout(() => { callback(null, { ...item, topic: `${item.topic}@${name}` }) }, delayMs)
    }
  })
}

test('each topic goes through its own chain; control items leave once, after every chain passed them', async () => {
  const items: PipelineItem[] = []
  items.push({ kind: 'assignment', epoch: 1, partitions: [] })
  for (let i = 0; i < 20; i++) items.push(recordBatch([record(i, `{"n":${i}}`)], i % 2 === 0 ? 'slow' : 'fast', 0))
  items.push({ kind: 'flush' })
  for (let i = 20; i < 30; i++) items.push(recordBatch([record(i, `{"n":${i}}`)], 'other', 1))
  items.push({ kind: 'assignment', epoch: 2, partitions: [] })

  const routes = new TopicRoutes([
    { matches: t => t === 'slow', stages: [tagger('A', 5)] },
    { matches: t => t === 'fast', stages: [tagger('B', 0), tagger('B2', 0)] },
    { matches: () => true, stages: [tagger('C', 1)] }
  ])
  const out = await run(items, routes)
  assert.deepEqual(out.filter(i => i.kind !== 'batch').map(i => i.kind), ['assignment', 'flush', 'assignment'])
  // Control items are not duplicated and keep their place relative to all data written before them.
  const flushAt = out.findIndex(i => i.kind === 'flush')
  const before = out.slice(0, flushAt).filter((i): i is RecordBatch => i.kind === 'batch')
  assert.equal(before.length, 20)
  assert.deepEqual(new Set(before.map(b => b.topic)), new Set(['slow@A', 'fast@B@B2']))
  const after = out.slice(flushAt).filter((i): i is RecordBatch => i.kind === 'batch')
  assert.deepEqual(after.map(b => b.firstOffset), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29])
  assert.ok(after.every(b => b.topic === 'other@C'))
  // Per topic, order is kept.
  const slow = before.filter(b => b.topic === 'slow@A').map(b => b.firstOffset)
  assert.deepEqual(slow, [...slow].sort((a, b) => a - b))
})

test('real stages per topic: a kafka-timestamp topic beside a JSON topic, each with its own template', async () => {
  const ts = Date.UTC(2026, 10, 20, 7, 30)
  const routes = new TopicRoutes([
    { matches: t => t === 'text', stages: [parseStage({ type: 'kafka-timestamp' }), partitionStage({ template: 'day={YYYY}{MM}{DD}' })] },
    { matches: () => true, stages: [parseStage({ type: 'json', timestampField: 'ts' }), partitionStage({})] }
  ])
  const out = await run([
    recordBatch([record(0, 'plain text', ts)], 'text', 0),
    recordBatch([record(0, `{"ts":${ts}}`)], 'json', 0)
  ], routes)
  const dirs = out.flatMap(i => i.kind === 'routed' ? i.groups.map(g => g.dir) : [])
  assert.deepEqual(dirs.sort(), ['json/dt=2026-11-20/hr=07', 'text/day=20261120'])
})

test('backpressure: a stalled consumer stops the chains; nothing is lost when it resumes', async () => {
  const routes = new TopicRoutes([
    { matches: t => t === 'a', stages: [tagger('A', 0)] },
    { matches: () => true, stages: [tagger('B', 0)] }
  ])
  let accepted = 0
  for (let i = 0; i < 200; i++) {
    const ok = routes.write(recordBatch([record(i, 'x')], i % 3 === 0 ? 'a' : 'b', 0))
    accepted++
    if (!ok) break
  }
  await sleep(50)
  assert.ok(accepted < 50, `writes are refused while nobody reads (accepted ${accepted})`)
  const got: PipelineItem[] = []
  routes.on('data', (item: PipelineItem) => got.push(item))
  for (let i = accepted; i < 200; i++) {
    if (!routes.write(recordBatch([record(i, 'x')], i % 3 === 0 ? 'a' : 'b', 0))) await new Promise(resolve => routes.once('drain', resolve))
  }
  routes.end()
  await new Promise(resolve => routes.once('end', resolve))
  assert.equal(got.length, 200)
})
