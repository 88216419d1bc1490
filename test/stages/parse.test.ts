import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FlushRequest, ParsedBatch } from '../../src/types.js'
import { parseStage } from '../../src/stages/parse.js'
import { partitionStage } from '../../src/stages/partition.js'
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

// ---------------------------------------------------------------------------------------------------------------
// Oversize values and event-time bounds
// ---------------------------------------------------------------------------------------------------------------

const MiB = 1024 * 1024
const NOW = TS // 2026-11-20T07:15:00Z
const fixedNow = (): number => NOW

/** A JSON message of exactly `size` bytes with event time `ts` (ms). */
function jsonOfSize (size: number, ts = TS): Buffer {
  const head = `{"ts":${ts},"pad":"`
  const value = Buffer.alloc(size, 'x')
  value.write(head)
  value.write('"}', size - 2)
  return value
}

test('a value over maxMessageBytes becomes one BadRecord, decided before parsing, bytes kept', async () => {
  const huge = Buffer.alloc(10 * MiB, 'x') // 10485760 bytes, not even JSON: the size decides first
  for (const options of [{ type: 'json', timestampField: 'ts' }, { type: 'kafka-timestamp' }] as const) {
    const records = [record(1, '{"ts": 1795158900}'), record(2, huge), record(3, null), record(4, '{"ts": 1795158901}')]
    const [batch] = only(await run([recordBatch(records)], parseStage({ ...options, now: fixedNow })), 'parsed')
    assert.ok(batch)
    assert.deepEqual(batch.good.map(r => r.offset), [1, 4])
    assert.deepEqual(batch.bad.map(r => [r.offset, r.reason]), [
      [2, 'message too large (10485760 bytes > 8388608)'],
      [3, 'tombstone (null value)']
    ])
    assert.equal(batch.bad[0]?.value, huge, 'the original buffer, not a copy')
    assert.equal(batch.bad[0]?.timestamp, TS)
  }
})

test('exactly maxMessageBytes is parsed, one byte more is not', async () => {
  const atLimit = jsonOfSize(1024)
  const over = jsonOfSize(1025)
  assert.equal(atLimit.length, 1024)
  assert.ok(JSON.parse(over.toString()))
  const [batch] = only(await run([recordBatch([record(1, atLimit), record(2, over)])],
    parseStage({ type: 'json', timestampField: 'ts', maxMessageBytes: 1024, now: fixedNow })), 'parsed')
  assert.deepEqual(batch?.good.map(r => [r.offset, r.timestampMs]), [[1, TS]])
  assert.deepEqual(batch?.bad.map(r => [r.offset, r.reason]), [[2, 'message too large (1025 bytes > 1024)']])
  // The default limit, exactly: parsed and good.
  const [big] = only(await run([recordBatch([record(1, jsonOfSize(8 * MiB))])], parseStage({ type: 'json', timestampField: 'ts', now: fixedNow })), 'parsed')
  assert.equal(big?.good.length, 1)
})

test('a 10 MB error record reaches the error output whole', { timeout: 30_000 }, async () => {
  const texts = [jsonOfSize(10 * MiB), Buffer.alloc(10 * MiB, '"\n\u0001')] // plain, and escape-heavy text
  const binary = Buffer.alloc(10 * MiB, 0xff) // invalid UTF-8: base64
  const records = [...texts, binary].map((value, i) => record(i, value))
  const out = await run([recordBatch(records)], parseStage({ type: 'json', timestampField: 'ts', now: fixedNow }), partitionStage())
  const [routed] = only(out, 'routed')
  assert.equal(routed?.groups.length, 1)
  const group = routed!.groups[0]!
  assert.equal(group.dir, '_errors/events/dt=2026-11-20/hr=07')
  assert.deepEqual(group.offsets, [0, 1, 2])
  const lines = group.values.map(line => JSON.parse(line.toString()) as { reason: string, value?: string, valueBase64?: string })
  assert.ok(lines.every(l => l.reason === 'message too large (10485760 bytes > 8388608)'))
  assert.ok(Buffer.from(lines[0]!.value!).equals(texts[0]!))
  assert.ok(Buffer.from(lines[1]!.value!).equals(texts[1]!))
  assert.ok(Buffer.from(lines[2]!.valueBase64!, 'base64').equals(binary))
})

test('event times outside the bounds become BadRecords with their reasons (json)', async () => {
  const day = 86_400_000
  const limit = NOW + 7 * day
  const notBefore = Date.UTC(2026, 0, 1)
  const values = [
    `{"ts": ${notBefore - 1}}`, // 1 ms too early
    `{"ts": ${notBefore}}`, // exactly notBefore: good
    '{"ts": "2026-06-01T00:00:00Z"}',
    `{"ts": ${limit}}`, // exactly now + 7 days: good
    `{"ts": ${limit + 1}}`, // 1 ms too late
    '{"ts": "2099-12-31T23:59:59Z"}',
    '{"ts": 0}', // 1970: before notBefore
    '{\n "ts": "2099-12-31T00:00:00\\u005A"\n}' // JSON.parse path (escape, line breaks): same rule
  ]
  const [batch] = only(await run([recordBatch(values.map((v, i) => record(i, v)))],
    parseStage({ type: 'json', timestampField: 'ts', timestampBounds: { notBefore: '2026-01-01' }, now: fixedNow })), 'parsed')
  assert.ok(batch)
  assert.deepEqual(batch.good.map(r => r.offset), [1, 2, 3])
  assert.equal(batch.maxEventTime, limit, 'out-of-bounds times do not count for the watermark')
  assert.deepEqual(batch.bad.map(r => [r.offset, r.reason]), [
    [0, 'timestamp before notBefore (2025-12-31T23:59:59.999Z < 2026-01-01T00:00:00.000Z)'],
    [4, 'timestamp too far in the future (2026-11-27T07:15:00.001Z > 2026-11-27T07:15:00.000Z = now + 604800s)'],
    [5, 'timestamp too far in the future (2099-12-31T23:59:59.000Z > 2026-11-27T07:15:00.000Z = now + 604800s)'],
    [6, 'timestamp before notBefore (1970-01-01T00:00:00.000Z < 2026-01-01T00:00:00.000Z)'],
    [7, 'timestamp too far in the future (2099-12-31T00:00:00.000Z > 2026-11-27T07:15:00.000Z = now + 604800s)']
  ])
  for (const bad of batch.bad) assert.equal(bad.value?.toString(), values[bad.offset], 'original bytes (no line-break repair)')
})

test('event-time bounds apply to the kafka-timestamp parser too', async () => {
  const records = [
    record(1, 'ancient', Date.UTC(2019, 11, 31, 23, 59, 59)),
    record(2, 'fine', Date.UTC(2020, 0, 1)),
    record(3, 'next hour', NOW + 3_600_000),
    record(4, 'next day', NOW + 86_400_000),
    record(5, 'int64 max', 9_223_372_036_854_775_807)
  ]
  const [batch] = only(await run([recordBatch(records)], parseStage({
    type: 'kafka-timestamp', timestampBounds: { notBefore: '2020-01-01T00:00:00Z', maxFutureSeconds: 3600 }, now: fixedNow
  })), 'parsed')
  assert.ok(batch)
  assert.deepEqual(batch.good.map(r => r.offset), [2, 3])
  assert.deepEqual(batch.bad.map(r => [r.offset, r.reason]), [
    [1, 'timestamp before notBefore (2019-12-31T23:59:59.000Z < 2020-01-01T00:00:00.000Z)'],
    [4, 'timestamp too far in the future (2026-11-21T07:15:00.000Z > 2026-11-20T08:15:00.000Z = now + 3600s)'],
    [5, 'timestamp too far in the future (9223372036854776000 ms > 2026-11-20T08:15:00.000Z = now + 3600s)']
  ])
})

test('default bounds: no lower bound, at most 7 days ahead; maxFutureSeconds 0 disables', async () => {
  const records = [record(1, '{"ts": 1}'), record(2, `{"ts": ${NOW + 8 * 86_400_000}}`), record(3, '{"ts": "9999-12-31"}')]
  const [byDefault] = only(await run([recordBatch(records)], parseStage({ type: 'json', timestampField: 'ts', now: fixedNow })), 'parsed')
  assert.deepEqual(byDefault?.good.map(r => r.offset), [1])
  assert.deepEqual(byDefault?.bad.map(r => r.offset), [2, 3])
  let clockReads = 0
  const [unbounded] = only(await run([recordBatch(records)], parseStage({
    type: 'json', timestampField: 'ts', timestampBounds: { maxFutureSeconds: 0 }, now: () => { clockReads++; return NOW }
  })), 'parsed')
  assert.deepEqual(unbounded?.good.map(r => r.offset), [1, 2, 3])
  assert.equal(clockReads, 0, 'no clock when the upper bound is off')
})

test('"now" is read once per batch', async () => {
  // The clock advances 60 s per read: read per record, the records of one batch would get different verdicts.
  let reads = 0
  const now = (): number => NOW + 60_000 * reads++
  const future = NOW + 90_000 // beyond the first batch's limit (now + 60 s), within the second's
  const batches = [0, 1].map(b => recordBatch([1, 2, 3].map(i => record(b * 10 + i, `{"ts": ${future}}`))))
  const out = only(await run(batches, parseStage({ type: 'json', timestampField: 'ts', timestampBounds: { maxFutureSeconds: 60 }, now })), 'parsed')
  assert.equal(reads, 2)
  assert.deepEqual(out.map(b => [b.good.length, b.bad.length]), [[0, 3], [3, 0]])
})

test('invalid size and bound options are ConfigErrors naming their path', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ maxMessageBytes: 1023 }, 'parser.maxMessageBytes'],
    [{ maxMessageBytes: 2048.5 }, 'parser.maxMessageBytes'],
    [{ maxMessageBytes: Infinity }, 'parser.maxMessageBytes'],
    [{ timestampBounds: { maxFutureSeconds: -1 } }, 'parser.timestampBounds.maxFutureSeconds'],
    [{ timestampBounds: { maxFutureSeconds: 0.5 } }, 'parser.timestampBounds.maxFutureSeconds'],
    [{ timestampBounds: { notBefore: 'yesterday' } }, 'parser.timestampBounds.notBefore'],
    [{ timestampBounds: { notBefore: 1577836800000 } }, 'parser.timestampBounds.notBefore']
  ]
  for (const [extra, path] of cases) {
    assert.throws(() => parseStage({ type: 'json', timestampField: 'ts', ...extra }),
      (err: unknown) => err instanceof ConfigError && err.path === path, JSON.stringify(extra))
  }
  assert.doesNotThrow(() => parseStage({ type: 'kafka-timestamp', maxMessageBytes: 1024, timestampBounds: { notBefore: '2020-01-01', maxFutureSeconds: 0 } }))
})
