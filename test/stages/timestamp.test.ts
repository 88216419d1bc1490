import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toEpochMillis } from '../../src/stages/timestamp.js'

const MS = Date.UTC(2026, 10, 20, 7, 15, 0) // 2026-11-20T07:15:00Z

test('numbers are classified by magnitude', () => {
  assert.equal(toEpochMillis(MS / 1000), MS) // seconds
  assert.equal(toEpochMillis(MS), MS) // ms
  assert.equal(toEpochMillis(MS * 1000 + 999), MS) // µs, floored
  assert.equal(toEpochMillis(MS * 1e6 + 123_456), MS) // ns
  assert.equal(toEpochMillis(0), 0)
  assert.equal(toEpochMillis(-0), 0)
  assert.equal(toEpochMillis(99_999_999_999), 99_999_999_999_000) // just below 1e11: still seconds
  assert.equal(toEpochMillis(1e11), 1e11) // from here: ms
})

test('fractional seconds are kept to the millisecond without float noise', () => {
  assert.equal(toEpochMillis(1.001), 1001)
  assert.equal(toEpochMillis(MS / 1000 + 0.123), MS + 123)
  assert.equal(toEpochMillis(MS / 1000 + 0.5), MS + 500)
  assert.equal(toEpochMillis(1.5), 1500)
})

test('digit strings are numbers', () => {
  assert.equal(toEpochMillis(String(MS)), MS)
  assert.equal(toEpochMillis(String(MS / 1000)), MS)
  assert.equal(toEpochMillis(`${MS / 1000}.25`), MS + 250)
  assert.equal(toEpochMillis('1795158900000000000'), MS) // ns beyond 2^53: precision loss stays below 1 ms
  assert.equal(toEpochMillis('-5'), 'negative timestamp')
})

test('ISO-8601 strings', () => {
  assert.equal(toEpochMillis('2026-11-20T07:15:00Z'), MS)
  assert.equal(toEpochMillis('2026-11-20t07:15:00z'), MS)
  assert.equal(toEpochMillis('2026-11-20 07:15:00Z'), MS)
  assert.equal(toEpochMillis('2026-11-20T07:15Z'), MS)
  assert.equal(toEpochMillis('2026-11-20T07:15:00'), MS, 'no offset = UTC')
  assert.equal(toEpochMillis('2026-11-20T07:15:00.123Z'), MS + 123)
  assert.equal(toEpochMillis('2026-11-20T07:15:00.1Z'), MS + 100)
  assert.equal(toEpochMillis('2026-11-20T07:15:00,12Z'), MS + 120)
  assert.equal(toEpochMillis('2026-11-20T07:15:00.123456789Z'), MS + 123)
  assert.equal(toEpochMillis('2026-11-20T12:45:00+05:30'), MS)
  assert.equal(toEpochMillis('2026-11-20T12:45:00+0530'), MS)
  assert.equal(toEpochMillis('2026-11-20T02:15:00-05'), MS)
  assert.equal(toEpochMillis('2026-11-20T00:15:00-07:00'), MS)
  assert.equal(toEpochMillis('2026-11-20'), Date.UTC(2026, 10, 20))
  assert.equal(toEpochMillis('2024-02-29'), Date.UTC(2024, 1, 29))
  assert.equal(toEpochMillis('1970-01-01T00:00:00Z'), 0)
  for (const s of ['2026-11-20T07:15:00Z', '2026-11-20T12:45:00.5+05:30', '2000-01-01', '9999-12-31T23:59:59.999Z']) {
    assert.equal(toEpochMillis(s), Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s), s)
  }
})

test('invalid dates are unparseable', () => {
  for (const s of ['2026-13-01', '2026-02-30', '2025-02-29', '2026-11-20T24:00:00Z', '2026-11-20T07:60Z', '2026-11-20T07:15:00+25:00',
    '2026-11-20T07:15:00.Z', '2026-11-20T07', '2026-11-20T07:15:00ZZ', '2026-11-2', '2026-11-20T07:15:00 PST']) {
    assert.equal(toEpochMillis(s), `unparseable date "${s}"`, s)
  }
  assert.equal(toEpochMillis('1969-12-31T23:59:59Z'), 'negative timestamp')
})

test('bad values give a reason', () => {
  assert.equal(toEpochMillis(-1), 'negative timestamp')
  assert.equal(toEpochMillis(Number.NaN), 'timestamp is NaN')
  assert.equal(toEpochMillis(Number.POSITIVE_INFINITY), 'timestamp is not finite')
  assert.equal(toEpochMillis(1e30), 'timestamp out of range')
  assert.equal(toEpochMillis('yesterday'), 'non-numeric timestamp "yesterday"')
  assert.equal(toEpochMillis(''), 'empty timestamp string')
  assert.equal(toEpochMillis(' 123'), 'non-numeric timestamp " 123"')
  assert.equal(toEpochMillis('12.'), 'non-numeric timestamp "12."')
  const long = toEpochMillis('x'.repeat(500))
  assert.equal(typeof long, 'string')
  assert.ok((long as string).length < 80, 'long values are truncated in the reason')
  assert.equal(toEpochMillis(true), 'boolean timestamp (true)')
  assert.equal(toEpochMillis(null), 'null timestamp')
  assert.equal(toEpochMillis(undefined), 'missing timestamp')
  assert.equal(toEpochMillis({ a: 1 }), 'object timestamp')
  assert.equal(toEpochMillis([1]), 'array timestamp')
})

test('an explicit unit reads numbers and digit strings in that unit, whatever their magnitude (issue 10, item 11)', () => {
  const y6000 = Date.UTC(6000, 0, 1) // 1.3e14 ms: auto takes it for µs (1974)
  assert.equal(toEpochMillis(y6000), Math.floor(y6000 / 1000))
  assert.equal(toEpochMillis(y6000, 'ms'), y6000)
  assert.equal(toEpochMillis(String(y6000), 'ms'), y6000)
  const us1972 = Date.UTC(1972, 0, 1) * 1000 // 6.3e13 µs: auto takes it for ms (3965)
  assert.equal(toEpochMillis(us1972), us1972)
  assert.equal(toEpochMillis(us1972, 'us'), Date.UTC(1972, 0, 1))
  assert.equal(toEpochMillis(5, 's'), 5000)
  assert.equal(toEpochMillis(5, 'ms'), 5)
  assert.equal(toEpochMillis(5_000_999, 'us'), 5000)
  assert.equal(toEpochMillis(BigInt(MS) * 1_000_000n, 'ns'), MS)
  assert.equal(toEpochMillis(1e13, 's'), 'timestamp out of range')
  assert.equal(toEpochMillis('2026-11-20T07:15:00Z', 's'), MS, 'ISO-8601 strings carry their own unit')
  assert.equal(toEpochMillis(-1, 'ms'), 'negative timestamp')
})
