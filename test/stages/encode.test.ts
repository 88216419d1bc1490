import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gunzipSync } from 'node:zlib'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { EncodedBatch, OutputGroup, PipelineItem, RoutedBatch } from '../../src/types.js'
import { encodeStage } from '../../src/stages/encode.js'
import { ConfigError } from '../../src/errors.js'
import { only, run } from './helpers.js'

function group (dir: string, offsets: number[], line = (o: number) => `{"n":${o}}`): OutputGroup {
  return { dir, errors: dir.startsWith('_errors/'), offsets, values: offsets.map(o => Buffer.from(line(o))) }
}

function routed (firstOffset: number, groups: OutputGroup[], partition = 0): RoutedBatch {
  const last = Math.max(firstOffset - 1, ...groups.flatMap(g => g.offsets))
  return { kind: 'routed', topic: 't', partition, epoch: 1, firstOffset, nextOffset: last + 1, rawBytes: 0, groups }
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i)

test('gzip: every group is an independent member; concatenated members gunzip to the lines', async () => {
  const batches = [
    routed(0, [group('a', [0, 2]), group('b', [1])]),
    routed(3, [group('a', [3, 4]), group('b', [5])])
  ]
  const out = only(await run(batches, encodeStage({ format: 'jsonl', compression: 'gzip', compressionLevel: 6 })), 'encoded')
  assert.equal(out.length, 2)
  const a = out.flatMap(b => b.groups.filter(g => g.dir === 'a'))
  assert.equal(gunzipSync(Buffer.concat(a.map(g => g.data))).toString(), '{"n":0}\n{"n":2}\n{"n":3}\n{"n":4}\n')
  for (const g of a) assert.equal(gunzipSync(g.data).toString().endsWith('\n'), true, 'each member decodes alone')
  const first = out[0]!.groups[0]!
  assert.deepEqual({ ...first, data: undefined }, {
    dir: 'a', extension: '.jsonl.gz', firstOffset: 0, lastOffset: 2, records: 2, encodedBytes: 16, data: undefined
  })
  assert.deepEqual(out.map(b => [b.firstOffset, b.nextOffset, b.groups.map(g => g.dir).join()]), [[0, 3, 'a,b'], [3, 6, 'a,b']])
})

test('none: plain JSON lines', async () => {
  const out = only(await run([routed(0, [group('a', [0, 1]), group('b', [2])])], encodeStage({ format: 'jsonl', compression: 'none' })), 'encoded')
  const groups = out[0]!.groups
  assert.deepEqual(groups.map(g => [g.dir, g.extension, g.data.toString(), g.encodedBytes, g.records, g.firstOffset, g.lastOffset]), [
    ['a', '.jsonl', '{"n":0}\n{"n":1}\n', 16, 2, 0, 1],
    ['b', '.jsonl', '{"n":2}\n', 8, 1, 2, 2]
  ])
})

test('empty groups are skipped and empty batches still flow', async () => {
  for (const compression of ['gzip', 'none'] as const) {
    const out = await run([routed(5, []), routed(5, [group('a', []), group('b', [5])])], encodeStage({ format: 'jsonl', compression }))
    assert.deepEqual(out.map(b => (b as EncodedBatch).groups.map(g => g.dir)), [[], ['b']])
  }
})

test('order is preserved with several batches in flight and control items interleaved', async t => {
  // Big batches finish after the small ones that follow them, so completion order differs from input order.
  const big = (first: number): RoutedBatch => routed(first, [group('x', range(first, 20_000), o => `{"n":${o},"pad":"${'abcdefghij'.repeat(20)}${o * 7919}"}`)])
  const small = (first: number): RoutedBatch => routed(first, [group('x', [first])])
  const items: PipelineItem[] = []
  let offset = 0
  for (let i = 0; i < 12; i++) {
    if (i % 3 === 0) { items.push(big(offset)); offset += 20_000 } else { items.push(small(offset)); offset += 1 }
    if (i % 4 === 1) items.push({ kind: 'flush' })
    if (i === 6) items.push({ kind: 'assignment', epoch: 2, partitions: [] })
  }
  const stage = encodeStage({ format: 'jsonl', compression: 'gzip', compressionLevel: 9, maxInFlight: 4 })
  let maxInFlight = 0
  const probe = setInterval(() => { maxInFlight = Math.max(maxInFlight, stage.inFlight) }, 0)
  const out = await run(items, stage).finally(() => clearInterval(probe))
  assert.deepEqual(out.map(describe), items.map(describe))
  t.diagnostic(`max in flight ${maxInFlight}`)
  assert.ok(maxInFlight > 1, `batches were in flight together (max ${maxInFlight})`)
  assert.ok(maxInFlight <= 4)
  const all = only(out, 'encoded').flatMap(b => b.groups.map(g => g.data))
  const lines = gunzipSync(Buffer.concat(all)).toString().split('\n')
  assert.equal(lines.length, offset + 1)
  assert.deepEqual(lines.slice(0, -1).map(l => (JSON.parse(l) as { n: number }).n), range(0, offset))

  function describe (item: PipelineItem): string {
    return item.kind === 'routed' || item.kind === 'encoded' ? `batch@${item.firstOffset}` : item.kind
  }
})

test('backpressure: a slow consumer bounds what the stage holds', async t => {
  const maxInFlight = 3
  const highWaterMark = 2
  const stage = encodeStage({ format: 'jsonl', compression: 'gzip', compressionLevel: 1, maxInFlight, highWaterMark })
  let produced = 0
  let consumed = 0
  let maxHeld = 0
  let maxAhead = 0
  const sample = (): void => {
    maxHeld = Math.max(maxHeld, stage.writableLength + stage.inFlight + stage.readableLength)
    maxAhead = Math.max(maxAhead, produced - consumed)
  }
  async function * source (): AsyncGenerator<PipelineItem> {
    for (let i = 0; i < 60; i++) {
      sample()
      produced++
      yield i % 10 === 5 ? { kind: 'flush' } : routed(i * 100, [group('a', range(i * 100, 100)), group('b', range(i * 100 + 50, 0))])
    }
  }
  const slow = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write (_item: PipelineItem, _encoding, callback) {
      consumed++
      sample()
      setTimeout(callback, 2)
    }
  })
  await pipeline(Readable.from(source()), stage, slow)
  assert.equal(consumed, 60)
  // writable side + in flight + readable side, each bounded; the rest waits upstream.
  const bound = highWaterMark + maxInFlight + highWaterMark + 1
  t.diagnostic(`held max ${maxHeld}, ahead max ${maxAhead}`)
  assert.ok(maxHeld <= bound, `stage held ${maxHeld} items (bound ${bound})`)
  assert.ok(maxAhead <= bound + 4, `source ran ${maxAhead} items ahead of the consumer`)
})

test('destroying the stage with compressions pending is quiet', async () => {
  const stage = encodeStage({ format: 'jsonl', compression: 'gzip' })
  const errors: Error[] = []
  stage.on('error', err => errors.push(err))
  stage.on('data', () => assert.fail('nothing may be pushed after destroy'))
  stage.write(routed(0, [group('a', range(0, 50_000))]))
  stage.destroy()
  await sleep(100)
  assert.deepEqual(errors, [])
})

test('invalid options are ConfigErrors; options are not mutated', () => {
  assert.throws(() => encodeStage({ format: 'xml' as 'jsonl', compression: 'gzip' }), ConfigError)
  assert.throws(() => encodeStage({ format: 'jsonl', compression: 'lz4' as 'gzip' }), ConfigError)
  assert.throws(() => encodeStage({ format: 'jsonl', compression: 'snappy' }), ConfigError)
  assert.throws(() => encodeStage({ format: 'csv', compression: 'gzip' }), ConfigError)
  assert.throws(() => encodeStage({ format: 'jsonl', compression: 'gzip', compressionLevel: 11 }), ConfigError)
  assert.throws(() => encodeStage({ format: 'jsonl', compression: 'gzip', maxInFlight: 0 }), ConfigError)
  encodeStage(Object.freeze({ format: 'jsonl' as const, compression: 'gzip' as const, compressionLevel: 6 }))
})
