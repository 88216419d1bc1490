import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FlushRequest, ParsedBatch } from '../../src/types.js'
import { parseStage } from '../../src/stages/parse.js'
import { ConfigError } from '../../src/errors.js'
import { only, record, recordBatch, run } from './helpers.js'

const TS = 1_795_158_900_000 // 2026-11-20T07:15:00Z

async function parseOne (value: string | Buffer | null, field = 'ts'): Promise<ParsedBatch> {
  const [batch] = only(await run([recordBatch([record(10, value)])], parseStage({ type: 'json', timestampField: field })), 'parsed')
  assert.ok(batch)
  assert.equal(batch.good.length + batch.bad.length, 1, 'the record is neither lost nor duplicated')
  return batch
}

async function reasonOf (value: string | Buffer | null, field = 'ts'): Promise<string> {
  const batch = await parseOne(value, field)
  assert.equal(batch.bad.length, 1)
  const bad = batch.bad[0]!
  assert.equal(bad.offset, 10)
  assert.equal(bad.partition, 3)
  assert.equal(bad.timestamp, TS)
  assert.equal(bad.value, typeof value === 'string' ? bad.value : value)
  if (typeof value === 'string') assert.equal(bad.value?.toString(), value)
  return bad.reason
}

test('bad messages each become exactly one BadRecord with a reason', async () => {
  assert.match(await reasonOf('hello'), /^not JSON: /)
  assert.match(await reasonOf('{"ts": 1795158900000, "a": '), /^truncated JSON: Unexpected end of JSON input/)
  assert.match(await reasonOf('{"ts": 1795158900000, "a": "abc'), /^truncated JSON: Unterminated string/)
  assert.equal(await reasonOf(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 'invalid UTF-8')
  assert.equal(await reasonOf('{"other": 1}'), 'missing timestamp field "ts"')
  assert.equal(await reasonOf('{"ts": "soon"}'), 'non-numeric timestamp "soon"')
  assert.equal(await reasonOf('[{"ts": 1795158900000}]'), 'JSON top level is an array, expected an object')
  assert.equal(await reasonOf('42'), 'JSON top level is a number, expected an object')
  assert.equal(await reasonOf('null'), 'JSON top level is null, expected an object')
  assert.equal(await reasonOf('{"ts": -5}'), 'negative timestamp')
  assert.equal(await reasonOf('{"ts": "2026-02-30T00:00:00Z"}'), 'unparseable date "2026-02-30T00:00:00Z"')
  assert.equal(await reasonOf('{"ts": null}'), 'null timestamp')
  assert.equal(await reasonOf(null), 'tombstone (null value)')
  assert.equal(await reasonOf(''), 'empty value')
})

test('a long JSON error message is shortened', async () => {
  const reason = await reasonOf(`{"ts": 1, "x": ${'x'.repeat(10_000)}}`)
  assert.ok(reason.length < 160, reason)
})

test('good records keep their original bytes and get the event time', async () => {
  const text = '{"ts":"2026-11-20T07:15:00Z",  "big": 12345678901234567890, "u": "é \\n"}'
  const batch = await parseOne(text)
  assert.equal(batch.good.length, 1)
  const good = batch.good[0]!
  assert.equal(good.offset, 10)
  assert.equal(good.timestampMs, TS)
  assert.equal(good.value.toString(), text)
})

test('valid UTF-8 containing U+FFFD is good', async () => {
  const batch = await parseOne('{"ts": 1795158900, "r": "\uFFFD"}')
  assert.equal(batch.good.length, 1)
})

test('nested dotted path, own properties only', async () => {
  const batch = await parseOne('{"meta": {"ts": 1795158900}}', 'meta.ts')
  assert.equal(batch.good[0]?.timestampMs, TS)
  assert.equal(await reasonOf('{"meta": 5}', 'meta.ts'), 'missing timestamp field "meta.ts"')
  assert.equal(await reasonOf('{"meta": {}}', 'meta.ts'), 'missing timestamp field "meta.ts"')
  assert.equal(await reasonOf('{}', 'constructor'), 'missing timestamp field "constructor"')
  assert.equal(await reasonOf('{"a": {"b": {"c": "x"}}}', 'a.b.c'), 'non-numeric timestamp "x"')
})

test('pretty-printed JSON becomes one line, other bytes unchanged', async () => {
  const text = '{\r\n  "ts": 1795158900,\n  "n": 12345678901234567890\n}'
  const original = Buffer.from(text)
  const batch = await parseOne(original)
  const good = batch.good[0]!
  assert.equal(good.value.toString(), '{    "ts": 1795158900,   "n": 12345678901234567890 }')
  assert.deepEqual(JSON.parse(good.value.toString()), JSON.parse(text))
  assert.equal(original.toString(), text, 'the input buffer is not mutated')
})

test('batch metadata is copied, control items pass through in order', async () => {
  const flush: FlushRequest = { kind: 'flush' }
  const input = recordBatch([record(7, '{"ts": 1795158900}'), record(8, 'x'), record(9, '{"ts": 1795158901}')], 'orders', 5, 9)
  const out = await run([flush, input, { kind: 'assignment', epoch: 10, partitions: [] }], parseStage({ type: 'json', timestampField: 'ts' }))
  assert.deepEqual(out.map(i => i.kind), ['flush', 'parsed', 'assignment'])
  assert.equal(out[0], flush)
  const batch = out[1] as ParsedBatch
  assert.deepEqual(
    { topic: batch.topic, partition: batch.partition, epoch: batch.epoch, firstOffset: batch.firstOffset, nextOffset: batch.nextOffset, rawBytes: batch.rawBytes },
    { topic: 'orders', partition: 5, epoch: 9, firstOffset: 7, nextOffset: 10, rawBytes: input.rawBytes })
  assert.deepEqual(batch.good.map(r => r.offset), [7, 9])
  assert.deepEqual(batch.bad.map(r => r.offset), [8])
})

test('an empty batch still flows (the sink needs its nextOffset)', async () => {
  const out = await run([{ ...recordBatch([]), firstOffset: 5, nextOffset: 5 }], parseStage({ type: 'json', timestampField: 'ts' }))
  assert.equal(out.length, 1)
  assert.equal(out[0]?.kind, 'parsed')
})

test('kafka-timestamp parser', async () => {
  const records = [
    record(1, 'anything at all', 1000),
    record(2, Buffer.from([0xff, 0x00]), 2000),
    record(3, null, 3000),
    record(4, 'two\nlines', 4000),
    record(5, 'carriage\rreturn', 5000),
    record(6, 'no time', -1)
  ]
  const [batch] = only(await run([recordBatch(records)], parseStage({ type: 'kafka-timestamp' })), 'parsed')
  assert.ok(batch)
  assert.deepEqual(batch.good.map(r => [r.offset, r.timestampMs]), [[1, 1000], [2, 2000]])
  assert.equal(batch.good[0]?.value, records[0]?.value)
  assert.deepEqual(batch.bad.map(r => [r.offset, r.reason]), [
    [3, 'tombstone (null value)'],
    [4, 'value contains a line break'],
    [5, 'value contains a line break'],
    [6, 'invalid Kafka record timestamp -1']
  ])
})

test('invalid options are ConfigErrors', () => {
  assert.throws(() => parseStage({ type: 'json' }), ConfigError)
  assert.throws(() => parseStage({ type: 'json', timestampField: 'a..b' }), ConfigError)
  assert.throws(() => parseStage({ type: 'xml' as 'json', timestampField: 'ts' }), ConfigError)
})

test('options are not mutated', () => {
  const options = Object.freeze({ type: 'json' as const, timestampField: 'meta.ts' })
  parseStage(options)
})
