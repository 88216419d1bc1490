/**
 * Secor's own parser test vectors (Iso8601ParserTest, DateMessageParserTest, JsonMessageParserTest's input
 * patterns), as Sediment configuration: the gaps of issue 15 (prefix-matching patterns, dates without a time).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../../src/config/options.js'
import { ConfigError } from '../../../src/errors.js'
import { compileDatePattern } from '../../../src/stages/parsers/date-pattern.js'
import { toEpochMillis } from '../../../src/stages/timestamp.js'
import { parseAll, reasons, times, msg } from './helpers.js'

test('Secor Iso8601ParserTest: date-times, a date without a time, nanoseconds, an invalid date', () => {
  assert.equal(toEpochMillis('2014-07-30T10:53:20.001Z'), 1406717600001)
  assert.equal(toEpochMillis('2014-07-29T10:53:20Z'), 1406631200000)
  assert.equal(toEpochMillis('2001-07-04Z'), 994204800000)
  assert.equal(toEpochMillis('2016-03-02T18:36:14+00:00'), 1456943774000)
  assert.equal(toEpochMillis('2006-01-02T23:59:59.999999999Z'), 1136246399999)
  assert.equal(toEpochMillis('2016-01-11T11:50:28.647Z'), 1452513028647)
  assert.equal(typeof toEpochMillis('111-11111111'), 'string')
  // xs:date with an offset: midnight there
  assert.equal(toEpochMillis('2001-07-04+02:00'), 994204800000 - 2 * 3600_000)
  assert.equal(toEpochMillis('2001-07-04-05:30'), 994204800000 + 5.5 * 3600_000)
  for (const bad of ['2001-07-04Zx', '2001-07-04+02', '2001-07-04+0200', '2001-07-04+15:00', '2001-02-30Z']) {
    assert.equal(typeof toEpochMillis(bad), 'string', bad)
  }
})

test('Secor DateMessageParserTest: patterns that Sediment reads, and the ones it refuses', () => {
  assert.equal(compileDatePattern('yyyy-MM-dd HH:mm:ss').parse('2014-07-30 10:53:20'), Date.parse('2014-07-30T10:53:20Z'))
  assert.equal(compileDatePattern('yyyy/MM/d').parse('2014/10/25'), Date.parse('2014-10-25T00:00:00Z'))
  assert.equal(typeof compileDatePattern('yyyy-MM-dd HH:mm:ss').parse('11111111'), 'string')
  // Java's lenient letters: refused at start with the letters named (see the README's mapping table)
  assert.throws(() => compileDatePattern('yyyyy.MMMMM.dd GGG hh:mm aaa'), (e: unknown) => e instanceof ConfigError && /yyyyy/.test(e.message))
  assert.throws(() => compileDatePattern('yyy-MM-dd :s'), ConfigError)
  // ... and the mapped equivalent of Secor's "02001.July.04 AD 12:08 PM" pattern, with the era and 5-digit year as literals
  assert.equal(compileDatePattern("'0'yyyy.MMMM.dd 'AD' hh:mm a").parse('02001.July.04 AD 12:08 PM'), Date.parse('2001-07-04T12:08:00Z'))
})

test('prefix matching (parser.timestampMatch: prefix): SimpleDateFormat ignores what follows the pattern', () => {
  const full = compileDatePattern("yyyy-MM-dd'T'HH:mm:ss")
  const prefix = compileDatePattern("yyyy-MM-dd'T'HH:mm:ss", 'UTC', undefined, undefined, 'prefix')
  assert.match(String(full.parse('2014-07-30T10:53:20.001Z')), /does not match/)
  assert.equal(prefix.parse('2014-07-30T10:53:20.001Z'), 1406717600000)
  assert.equal(prefix.parse('2014-07-30T10:53:20'), 1406717600000)
  // still a match from the start, not a search
  assert.equal(typeof prefix.parse('x2014-07-30T10:53:20'), 'string')
  assert.equal(typeof prefix.parse('2014-07-30T10:53'), 'string')
  // the reason prefix is not the default: an offset the pattern does not name is ignored
  assert.equal(compileDatePattern('yyyy-MM-dd HH:mm:ss', 'UTC', undefined, undefined, 'prefix').parse('2014-07-30 10:53:20+08:00'), Date.parse('2014-07-30T10:53:20Z'))
})

test('timestampMatch through the config and the json parser', async () => {
  const config = validateConfig({
    kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] },
    parser: { type: 'json', timestampField: 'timestamp', timestampFormat: "yyyy-MM-dd'T'HH:mm:ss", timestampMatch: 'prefix' },
    sink: { type: 'file', directory: '/tmp/x' }
  })
  assert.equal(config.parser.timestampMatch, 'prefix')
  const batch = await parseAll(config.parser, [msg(0, '{"timestamp":"2014-07-30T10:53:20.001Z"}'), msg(1, '{"timestamp":"2001-07-04Z"}')])
  assert.deepEqual(times(batch), [[0, 1406717600000]])
  assert.match(reasons(batch)[0]?.[1] ?? '', /does not match/) // the pattern applies to every string, ISO or not
  const iso = await parseAll({ type: 'json', timestampField: 'timestamp' }, [msg(0, '{"timestamp":"2001-07-04Z"}')])
  assert.deepEqual(times(iso), [[0, 994204800000]])
  assert.throws(() => validateConfig({
    kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] }, parser: { timestampMatch: 'start' }, sink: { type: 'file', directory: '/tmp/x' }
  }), /timestampMatch/)
  await assert.rejects(async () => await parseAll({ type: 'json', timestampField: 'ts', timestampMatch: 'prefix' }, []), /timestampMatch: applies to parser.timestampFormat/)
})
