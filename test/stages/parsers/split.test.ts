import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseStage } from '../../../src/stages/parse.js'
import { partitionStage } from '../../../src/stages/partition.js'
import { ConfigError } from '../../../src/errors.js'
import { only, recordBatch, run } from '../helpers.js'
import { TS, msg, parseAll, reasons } from './helpers.js'

const H = 3_600_000

test('split lines: each line is a record with its own event time; all keep the message offset', async () => {
  const value = [`{"ts": ${TS}, "i": 1}`, `{"ts": ${TS + H}, "i": 2}`, '', '  \t', 'not json', `{"ts": ${TS + 2 * H}, "i": 3}\r`, ''].join('\n')
  const records = [msg(5, value), msg(6, `{"ts": ${TS}}`), msg(7, '\n\n'), msg(8, null), msg(9, '')]
  const batch = await parseAll({ type: 'json', timestampField: 'ts', split: 'lines' }, records)
  assert.deepEqual(batch.good.map(r => [r.offset, r.timestampMs, r.value.toString()]), [
    [5, TS, `{"ts": ${TS}, "i": 1}`],
    [5, TS + H, `{"ts": ${TS + H}, "i": 2}`],
    [5, TS + 2 * H, `{"ts": ${TS + 2 * H}, "i": 3}`],
    [6, TS, `{"ts": ${TS}}`]
  ])
  assert.ok(batch.good.slice(0, 3).every(r => r.kafka === records[0]), 'every line points at its message')
  assert.equal(batch.maxEventTime, TS + 2 * H)
  assert.deepEqual(reasons(batch), [
    [5, 'line 5: not JSON: Unexpected token \'o\', "not json" is not valid JSON'],
    [7, 'no records (only blank lines)'],
    [8, 'tombstone (null value)'],
    [9, 'empty value']
  ])
  assert.equal(batch.bad[0]?.value?.toString(), 'not json', 'the bad line, not the whole message')

  // Routed by each line's own time: three hour directories from one message.
  const [routed] = only(await run([recordBatch([msg(5, value)])], parseStage({ type: 'json', timestampField: 'ts', split: 'lines', timestampBounds: { maxFutureSeconds: 0 } }), partitionStage()), 'routed')
  assert.deepEqual(routed?.groups.map(g => [g.dir, g.offsets]), [
    ['events/dt=2026-11-20/hr=07', [5]],
    ['events/dt=2026-11-20/hr=08', [5]],
    ['events/dt=2026-11-20/hr=09', [5]],
    ['_errors/events/dt=2026-11-20/hr=07', [5]]
  ])
})

test('split lines works with the other text parsers; a bounds violation rejects only its line', async () => {
  const regex = await parseAll({ type: 'regex', regex: { pattern: '^(?<timestamp>\\d+) (?<m>.*)$' }, split: 'lines', timestampBounds: { notBefore: '2026-01-01' } },
    [msg(1, '1795158900 a\n1 b\r\n1795162500 c')])
  assert.deepEqual(regex.good.map(r => [r.timestampMs, r.doc?.m]), [[TS, 'a'], [TS + H, 'c']])
  assert.deepEqual(reasons(regex), [[1, 'timestamp before notBefore (1970-01-01T00:00:01.000Z < 2026-01-01T00:00:00.000Z)']])
  assert.equal(regex.bad[0]?.value?.toString(), '1 b')

  const kafka = await parseAll({ type: 'kafka-timestamp', split: 'lines' }, [msg(1, 'a\nb\rc\n')])
  assert.deepEqual(kafka.good.map(r => r.value.toString()), ['a'])
  assert.deepEqual(reasons(kafka), [[1, 'line 2: value contains a line break']])
})

test('split lines is refused for binary parsers', () => {
  for (const type of ['msgpack', 'protobuf', 'avro'] as const) {
    assert.throws(() => parseStage({ type, split: 'lines', protobuf: type === 'protobuf' ? { file: 'x.proto', messageType: 'X' } : undefined, avro: type === 'avro' ? { schemaFile: 'x.avsc' } : undefined }),
      (err: unknown) => err instanceof ConfigError && err.path === 'parser.split', type)
  }
  assert.throws(() => parseStage({ type: 'json', timestampField: 'ts', split: 'words' as 'lines' }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.split')
})
