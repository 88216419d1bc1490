import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compileDatePattern } from '../../../src/stages/parsers/date-pattern.js'
import { ConfigError } from '../../../src/errors.js'

const utc = (s: string): number => Date.parse(s)

test('common patterns parse to UTC milliseconds', () => {
  const cases: Array<[string, string, string]> = [
    ['yyyy-MM-dd HH:mm:ss', '2026-11-20 07:15:00', '2026-11-20T07:15:00Z'],
    ['yyyy-MM-dd HH:mm:ss.SSS', '2026-11-20 07:15:00.123', '2026-11-20T07:15:00.123Z'],
    ['yyyy-MM-dd HH:mm:ss.SSSSSS', '2026-11-20 07:15:00.123987', '2026-11-20T07:15:00.123Z'],
    ['yyyy-MM-dd HH:mm:ss.S', '2026-11-20 07:15:00.5', '2026-11-20T07:15:00.500Z'],
    ["yyyy-MM-dd'T'HH:mm:ssXXX", '2026-11-20T08:15:00+01:00', '2026-11-20T07:15:00Z'],
    ["yyyy-MM-dd'T'HH:mm:ssXXX", '2026-11-20T07:15:00Z', '2026-11-20T07:15:00Z'],
    ['dd/MMM/yyyy:HH:mm:ss Z', '20/Nov/2026:02:15:00 -0500', '2026-11-20T07:15:00Z'],
    ['EEE, dd MMM yyyy HH:mm:ss Z', 'Fri, 20 Nov 2026 07:15:00 +0000', '2026-11-20T07:15:00Z'],
    ['MMMM d, yyyy h:mm a', 'November 20, 2026 7:15 AM', '2026-11-20T07:15:00Z'],
    ['MMMM d, yyyy h:mm a', 'november 20, 2026 12:05 pm', '2026-11-20T12:05:00Z'],
    ['MMMM d, yyyy h:mm a', 'November 20, 2026 12:05 AM', '2026-11-20T00:05:00Z'],
    ['d.M.yy H:m', '5.3.26 7:5', '2026-03-05T07:05:00Z'],
    ['yyyyMMddHHmmss', '20261120071500', '2026-11-20T07:15:00Z'],
    ['yyyy-MM-dd', '2024-02-29', '2024-02-29T00:00:00Z'],
    ["yyyy-MM-dd'T'HH:mm:ss''", "2026-11-20T07:15:00'", '2026-11-20T07:15:00Z']
  ]
  for (const [pattern, text, iso] of cases) {
    assert.equal(compileDatePattern(pattern).parse(text), utc(iso), `${pattern} ${text}`)
  }
})

test('a zone-less pattern is wall-clock time in parser.timezone, with java.time rules for DST', () => {
  const berlin = compileDatePattern('yyyy-MM-dd HH:mm:ss', 'Europe/Berlin')
  assert.equal(berlin.parse('2026-11-20 08:15:00'), utc('2026-11-20T07:15:00Z')) // CET
  assert.equal(berlin.parse('2026-07-01 09:00:00'), utc('2026-07-01T07:00:00Z')) // CEST
  // Spring forward (2026-03-29 02:00 → 03:00): a time in the gap moves forward by the gap.
  assert.equal(berlin.parse('2026-03-29 02:30:00'), utc('2026-03-29T01:30:00Z'))
  // Fall back (2026-10-25 03:00 → 02:00): an ambiguous time is the earlier instant (CEST).
  assert.equal(berlin.parse('2026-10-25 02:30:00'), utc('2026-10-25T00:30:00Z'))
  assert.equal(compileDatePattern('yyyy-MM-dd HH:mm', 'Asia/Kathmandu').parse('2026-11-20 12:45'), utc('2026-11-20T07:00:00Z'))
  // An explicit offset wins over the zone.
  assert.equal(compileDatePattern('yyyy-MM-dd HH:mm:ssXXX', 'Europe/Berlin').parse('2026-11-20 07:15:00Z'), utc('2026-11-20T07:15:00Z'))
})

test('non-matching text gives a reason, never a throw', () => {
  const p = compileDatePattern('yyyy-MM-dd HH:mm:ss')
  for (const text of ['2026-11-20T07:15:00', '2026-11-20 07:15', '2026-11-20 07:15:00 ', '2026-02-30 00:00:00', '2026-13-01 00:00:00',
    '2026-11-20 24:00:00', '2026-11-20 07:60:00', '26-11-20 07:15:00', '', 'x'.repeat(100)]) {
    const r = p.parse(text)
    assert.equal(typeof r, 'string', text)
    assert.match(r as string, /does not match the pattern "yyyy-MM-dd HH:mm:ss"/)
  }
  assert.ok((p.parse('x'.repeat(100)) as string).length < 140, 'long text is shortened in the reason')
  assert.equal(compileDatePattern('yyyy-MM-dd').parse('1969-12-31'), 'negative timestamp')
})

test('unusable patterns are ConfigErrors naming parser.timestampFormat', () => {
  for (const pattern of ['', 'HH:mm', 'yyyy-MM', 'yyyy-dd', 'yyyy-MM-dd hh:mm', 'yyyy-MM-dd HH a', 'yyyy-MM-dd QQ', "yyyy-MM-dd 'T", 'yyy-MM-dd', 'yyyy-MM-dd-dd', 'yyyy-MM-dd SSSSSSSSSS']) {
    assert.throws(() => compileDatePattern(pattern), (err: unknown) => err instanceof ConfigError && err.path === 'parser.timestampFormat', pattern)
  }
  assert.throws(() => compileDatePattern('yyyy-MM-dd', 'Mars/Olympus'), (err: unknown) => err instanceof ConfigError && err.path === 'parser.timezone')
})
