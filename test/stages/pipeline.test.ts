import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gunzipSync } from 'node:zlib'
import type { EncodedBatch } from '../../src/types.js'
import { encodeStage, parseStage, partitionStage } from '../../src/stages/index.js'
import { only, record, recordBatch, run } from './helpers.js'

test('parse → partition → encode: every record lands in exactly one file line', async () => {
  const kafkaTs = Date.UTC(2026, 10, 20, 9, 30)
  const values = [
    '{"meta":{"ts":"2026-11-20T07:15:00Z"},"n":0}',
    '{"meta":{"ts":1795158900},"n":1}', // 07:15 as seconds
    'not json',
    '{\n  "meta": {"ts": 1795162500000},\n  "n": 3\n}', // 08:15, pretty-printed
    null,
    '{"meta":{},"n":5}'
  ]
  const batch = recordBatch(values.map((v, i) => record(100 + i, v, kafkaTs)), 'clicks', 1)
  const out = await run([batch, { kind: 'flush' }],
    parseStage({ type: 'json', timestampField: 'meta.ts' }),
    partitionStage({ template: 'dt={YYYY}-{MM}-{DD}/hr={HH}', timezone: 'UTC' }),
    encodeStage({ format: 'jsonl', compression: 'gzip', compressionLevel: 6 }))
  assert.deepEqual(out.map(i => i.kind), ['encoded', 'flush'])
  const encoded = only(out, 'encoded')[0] as EncodedBatch
  assert.equal(encoded.nextOffset, 106)
  const files = Object.fromEntries(encoded.groups.map(g => [g.dir, gunzipSync(g.data).toString().split('\n').slice(0, -1)]))
  assert.deepEqual(Object.keys(files), ['clicks/dt=2026-11-20/hr=07', 'clicks/dt=2026-11-20/hr=08', '_errors/clicks/dt=2026-11-20/hr=09'])
  assert.deepEqual(files['clicks/dt=2026-11-20/hr=07'], [values[0], values[1]])
  assert.deepEqual(files['clicks/dt=2026-11-20/hr=08']?.map(l => JSON.parse(l)), [{ meta: { ts: 1795162500000 }, n: 3 }])
  const errors = files['_errors/clicks/dt=2026-11-20/hr=09']!.map(l => JSON.parse(l) as { offset: number, reason: string })
  assert.deepEqual(errors.map(e => [e.offset, e.reason.split(':')[0]]), [
    [102, 'not JSON'], [104, 'tombstone (null value)'], [105, 'missing timestamp field "meta.ts"']
  ])
  const total = encoded.groups.reduce((n, g) => n + g.records, 0)
  assert.equal(total, values.length)
})
