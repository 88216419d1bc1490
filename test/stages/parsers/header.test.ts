import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseStage } from '../../../src/stages/parse.js'
import { ConfigError } from '../../../src/errors.js'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

function int64 (n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigInt64BE(BigInt(n))
  return b
}

test('header: event time from a text header (magnitude, ISO-8601), value written as is', async () => {
  const records = [
    msg(1, '{"a":1}', { headers: { 'event-time': String(TS) } }),
    msg(2, 'opaque', { headers: { 'event-time': Buffer.from(String(TS / 1000)) } }),
    msg(3, 'x', { headers: { 'event-time': '2026-11-20T07:15:00Z' } }),
    msg(4, 'x', { headers: { other: '1' } }),
    msg(5, 'x', { headers: { 'event-time': 'yesterday' } }),
    msg(6, 'x', { headers: { 'event-time': '' } }),
    msg(7, null, { headers: { 'event-time': String(TS) } }),
    msg(8, 'two\r\nlines', { headers: { 'event-time': String(TS) } })
  ]
  const batch = await parseAll({ type: 'header', header: { name: 'event-time' } }, records)
  assert.deepEqual(times(batch), [[1, TS], [2, TS], [3, TS]])
  assert.equal(batch.good[1]?.value, records[1]?.value)
  assert.deepEqual(reasons(batch), [
    [4, 'missing timestamp header "event-time"'],
    [5, 'header "event-time": non-numeric timestamp "yesterday"'],
    [6, 'missing timestamp header "event-time"'],
    [7, 'tombstone (null value)'],
    [8, 'value contains a line break']
  ])
})

test('header: int64be encoding, a date pattern, fallback to the Kafka timestamp', async () => {
  const binary = await parseAll({ type: 'header', header: { name: 'ts', encoding: 'int64be' } }, [
    msg(1, 'x', { headers: { ts: int64(TS) } }), msg(2, 'x', { headers: { ts: Buffer.from([1, 2]) } }), msg(3, 'x', { headers: { ts: int64(-5) } })
  ])
  assert.deepEqual(times(binary), [[1, TS]])
  assert.deepEqual(reasons(binary), [[2, 'header "ts": an int64be timestamp header must be 8 bytes, got 2'], [3, 'header "ts": negative timestamp']])

  const patterned = await parseAll({
    type: 'header', header: { name: 'ts' }, timestampFormat: 'dd.MM.yyyy HH:mm', timezone: 'Europe/Berlin', fallback: { policy: 'kafka-timestamp' }
  }, [msg(1, 'x', { headers: { ts: '20.11.2026 08:15' } }), msg(2, 'x', { timestamp: TS + 9 })])
  assert.deepEqual(times(patterned), [[1, TS], [2, TS + 9]])
})

test('header: options are checked', () => {
  assert.throws(() => parseStage({ type: 'header' }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.header')
  assert.throws(() => parseStage({ type: 'header', header: { name: '' } }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.header.name')
  assert.throws(() => parseStage({ type: 'header', header: { name: 'ts', encoding: 'utf16' as 'text' } }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.header.encoding')
})
