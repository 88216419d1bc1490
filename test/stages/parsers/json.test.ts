import { test } from 'node:test'
import assert from 'node:assert/strict'
import { jsonParser } from '../../../src/stages/parsers/json.js'
import { compileEventTime } from '../../../src/stages/parsers/event-time.js'
import { fieldSpecs } from '../../../src/stages/parsers/fields.js'
import type { ParseOutput } from '../../../src/stages/parsers/common.js'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

const D = Date.UTC(2020, 0, 1)

test('json: units by magnitude and ISO-8601, as before; kafka pointer set, doc left unset', async () => {
  const values = [`{"ts": ${TS / 1000}}`, `{"ts": ${TS}}`, `{"ts": ${TS * 1000}}`, `{"ts": "${TS * 1_000_000}"}`, '{"ts": "2026-11-20T08:15:00+01:00"}', '{"ts": 1795158900.5}']
  const records = values.map((v, i) => msg(i, v))
  const batch = await parseAll({ type: 'json', timestampField: 'ts' }, records)
  assert.deepEqual(times(batch), [[0, TS], [1, TS], [2, TS], [3, TS], [4, TS], [5, TS + 500]])
  for (const [i, r] of batch.good.entries()) {
    assert.equal(r.kafka, records[i], 'the Kafka message, by reference')
    assert.equal(r.value, records[i]?.value, 'the message bytes themselves')
    assert.equal(r.doc, undefined)
    assert.equal(r.raw, undefined)
  }
})

test('json: a repaired line break keeps the original bytes in raw', async () => {
  const text = '{\n"ts": 1795158900}'
  const batch = await parseAll({ type: 'json', timestampField: 'ts' }, [msg(1, text)])
  assert.equal(batch.good[0]?.value.toString(), '{ "ts": 1795158900}')
  assert.equal(batch.good[0]?.raw?.toString(), text)
})

test('json: timestampFormat for string timestamps (numbers keep their meaning), timezone for zone-less ones', async () => {
  const records = [
    msg(1, '{"t": "2026-11-20 08:15:00"}'),
    msg(2, '{"t": 1795158900}'),
    msg(3, '{"t": "2026-11-20T07:15:00Z"}'),
    msg(4, '{"t": "2026-11-20 08:15:00.250", "x": "\\u00e9"}'),
    msg(5, '{\n"t": "2026-11-20 08:15:00"}')
  ]
  const batch = await parseAll({ type: 'json', timestampField: 't', timestampFormat: 'yyyy-MM-dd HH:mm:ss', timezone: 'Europe/Berlin' }, records)
  assert.deepEqual(times(batch), [[1, TS], [2, TS], [5, TS]])
  assert.deepEqual(reasons(batch), [
    [3, 'timestamp "2026-11-20T07:15:00Z" does not match the pattern "yyyy-MM-dd HH:mm:ss"'],
    [4, 'timestamp "2026-11-20 08:15:00.250" does not match the pattern "yyyy-MM-dd HH:mm:ss"']
  ])
})

test('json: fallback policies for an absent (or null) timestamp; a bad one stays an error', async () => {
  const records = [msg(1, '{"a": 1}', { timestamp: TS }), msg(2, '{"ts": null}', { timestamp: TS + 1 }), msg(3, '{"ts": "soon"}'), msg(4, '{"a": 1}', { timestamp: -1 }), msg(5, '{\n"a": 1}', { timestamp: TS + 5 })]
  const byKafka = await parseAll({ type: 'json', timestampField: 'ts', fallback: { policy: 'kafka-timestamp' } }, records)
  assert.deepEqual(times(byKafka), [[1, TS], [2, TS + 1], [5, TS + 5]])
  assert.deepEqual(reasons(byKafka), [[3, 'non-numeric timestamp "soon"'], [4, 'invalid Kafka record timestamp -1']])

  const fixed = await parseAll({ type: 'json', timestampField: 'ts', fallback: { policy: 'fixed', date: '2020-01-01' } }, records)
  assert.deepEqual(times(fixed), [[1, D], [2, D], [4, D], [5, D]])

  const error = await parseAll({ type: 'json', timestampField: 'ts', fallback: { policy: 'error' } }, records)
  assert.deepEqual(reasons(error), [[1, 'missing timestamp field "ts"'], [2, 'null timestamp'], [3, 'non-numeric timestamp "soon"'], [4, 'missing timestamp field "ts"'], [5, 'missing timestamp field "ts"']])
})

test('json: fields are extracted on both paths, identically', async () => {
  const values = [
    '{"ts": 1795158900, "meta": {"type": "click", "n": 7}}',
    '{"ts": 1795158900, "meta": {"type": "view", "n": 1e3}}',
    '{"ts": 1795158900, "meta": {"type": "sp\\u0061ce"}}', // escaped: JSON.parse path
    '{"ts": 1795158900, "meta": {"n": true}}',
    '{"ts": 1795158900, "meta": {"type": "", "n": null}}',
    '{"ts": 1795158900}',
    '{"ts": 1795158900, "meta": {"type": {"x": 1}}}',
    '{"ts": 1795158900, "meta": {"type": ["a"]}}'
  ]
  const fields = { eventType: 'meta.type', n: 'meta.n' }
  const batch = await parseAll({ type: 'json', timestampField: 'ts', fields }, values.map((v, i) => msg(i, v)))
  assert.deepEqual(batch.good.map(r => [r.offset, r.fields]), [
    [0, { eventType: 'click', n: '7' }],
    [1, { eventType: 'view', n: '1000' }],
    [2, { eventType: 'space' }],
    [3, { n: 'true' }],
    [4, undefined],
    [5, undefined]
  ])
  assert.deepEqual(reasons(batch), [
    [6, 'field "meta.type" (for {eventType}) is an object, expected a string, number or boolean'],
    [7, 'field "meta.type" (for {eventType}) is an array, expected a string, number or boolean']
  ])
  // The fast path (the scanner reads one field) and the JSON.parse path agree record for record.
  for (const f of [{ eventType: 'meta.type' }, { n: 'meta.n' }, fields] as Array<Record<string, string>>) {
    const options = { timestampField: 'ts', eventTime: compileEventTime({}), fields: fieldSpecs(f) }
    for (const [i, v] of values.entries()) {
      const fast: ParseOutput = { topic: 't', good: [], bad: [], filtered: 0 }
      const slow: ParseOutput = { topic: 't', good: [], bad: [], filtered: 0 }
      const m = msg(i, v)
      jsonParser(options)(m.value, m, 0, fast)
      jsonParser({ ...options, fastPath: false })(m.value, m, 0, slow)
      assert.deepEqual(fast, slow, `${JSON.stringify(f)} ${v}`)
    }
  }
})

test('json: parser.timestampUnit reads numeric timestamps in that unit (ms beyond 1e14 are not taken for µs)', async () => {
  const y6000 = Date.UTC(6000, 0, 1)
  const values = [`{"ts": ${y6000}}`, `{"ts": "${y6000}"}`, `{"ts": ${TS}}`, '{"ts": "2026-11-20T07:15:00Z"}']
  const records = values.map((v, i) => msg(i, v))
  const bounds = { maxFutureSeconds: 0 }
  assert.deepEqual(times(await parseAll({ type: 'json', timestampField: 'ts', timestampBounds: bounds }, records)),
    [[0, Math.floor(y6000 / 1000)], [1, Math.floor(y6000 / 1000)], [2, TS], [3, TS]], 'auto: by magnitude, as before')
  assert.deepEqual(times(await parseAll({ type: 'json', timestampField: 'ts', timestampUnit: 'ms', timestampBounds: bounds }, records)),
    [[0, y6000], [1, y6000], [2, TS], [3, TS]])
  const seconds = await parseAll({ type: 'json', timestampField: 'ts', timestampUnit: 's', timestampFormat: 'yyyy-MM-dd', timestampBounds: bounds },
    [msg(0, `{"ts": ${TS / 1000}}`), msg(1, `{"ts": 1e13}`), msg(2, '{"ts": "2026-11-20"}')])
  assert.deepEqual(times(seconds), [[0, TS], [2, Date.UTC(2026, 10, 20)]])
  assert.deepEqual(reasons(seconds), [[1, 'timestamp out of range']])
  assert.throws(() => compileEventTime({ timestampUnit: 'sec' as 'ms' }), /parser\.timestampUnit: must be one of "auto", "s", "ms", "us", "ns", got "sec"/)
})
