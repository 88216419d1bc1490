import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseStage } from '../../../src/stages/parse.js'
import { ConfigError } from '../../../src/errors.js'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

const LOG = '^(?<ts>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) (?<level>[A-Z]+)(?: \\[(?<thread>[^\\]]+)\\])? (?<text>.*)$'

test('regex: timestamp from a named group with a date pattern; doc = matched groups; fields from groups', async () => {
  const lines = [
    '2026-11-20 08:15:00 INFO [main] started',
    '2026-11-20 08:15:00 WARN disk almost full',
    'garbage',
    '2026-11-20 8:15:00 INFO short hour',
    '2026-11-20 08:15:00 INFO caf\u00e9'
  ]
  const batch = await parseAll({
    type: 'regex', regex: { pattern: LOG }, timestampField: 'ts', timestampFormat: 'yyyy-MM-dd HH:mm:ss', timezone: 'Europe/Berlin', fields: { level: 'level' }
  }, [...lines.map((l, i) => msg(i, l)), msg(5, Buffer.from([0x32, 0xff])), msg(6, null), msg(7, `${lines[0] ?? ''}\nmore`)])
  assert.deepEqual(times(batch), [[0, TS], [1, TS], [4, TS]])
  assert.deepEqual(batch.good[0]?.doc, { ts: '2026-11-20 08:15:00', level: 'INFO', thread: 'main', text: 'started' })
  assert.deepEqual(batch.good[1]?.doc, { ts: '2026-11-20 08:15:00', level: 'WARN', text: 'disk almost full' }, 'an unmatched optional group is left out')
  assert.equal(Object.getPrototypeOf(batch.good[0]?.doc), Object.prototype)
  assert.equal(batch.good[0]?.value.toString(), lines[0], 'the line is written as is')
  assert.deepEqual(batch.good.map(r => r.fields), [{ level: 'INFO' }, { level: 'WARN' }, { level: 'INFO' }])
  assert.deepEqual(reasons(batch), [
    [2, `no match for parser.regex.pattern /${LOG.slice(0, 60)}…/`],
    [3, `no match for parser.regex.pattern /${LOG.slice(0, 60)}…/`],
    [5, 'invalid UTF-8'],
    [6, 'tombstone (null value)'],
    [7, 'value contains a line break']
  ])
})

test('regex: an optional timestamp group that did not match follows the fallback', async () => {
  const pattern = '^(?:(?<timestamp>\\d+) )?(?<text>.*)$'
  const records = [msg(1, '1795158900 hello'), msg(2, 'no time', { timestamp: TS + 2 })]
  const error = await parseAll({ type: 'regex', regex: { pattern } }, records)
  assert.deepEqual(reasons(error), [[2, 'timestamp group "timestamp" did not match']])
  const fallback = await parseAll({ type: 'regex', regex: { pattern }, fallback: { policy: 'kafka-timestamp' } }, records)
  assert.deepEqual(times(fallback), [[1, TS], [2, TS + 2]])
})

test('regex: options are checked with their paths', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'parser.regex'],
    [{ regex: { pattern: '(' } }, 'parser.regex.pattern'],
    [{ regex: { pattern: '(?<timestamp>x)', flags: 'g' } }, 'parser.regex.flags'],
    [{ regex: { pattern: '(?<time>x)' } }, 'parser.regex.pattern'],
    [{ regex: { pattern: '(?<a>x)' }, timestampField: 'a.b' }, 'parser.timestampField']
  ]
  for (const [extra, path] of cases) {
    assert.throws(() => parseStage({ type: 'regex', ...extra }), (err: unknown) => err instanceof ConfigError && err.path === path, JSON.stringify(extra))
  }
  assert.doesNotThrow(() => parseStage({ type: 'regex', regex: { pattern: '(?<time>x)' }, fallback: { policy: 'kafka-timestamp' } }))
})
