import type { TimestampUnit } from '../config/types.js'
import { MAX_DATE_MS, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, daysFromCivil, daysInMonth } from './calendar.js'

/**
 * Converts an event-time value found in a message to milliseconds since the epoch, or returns why it cannot.
 *
 * - numbers in `unit`, by default (`auto`) by magnitude: |v| < 1e11 seconds, < 1e14 milliseconds, < 1e17
 *   microseconds, else nanoseconds (so milliseconds after the year 5138 and microseconds before 1973 are misread:
 *   set the unit when such values are expected); fractions are allowed and the result is floored to a whole
 *   millisecond;
 * - strings of digits (optionally with a fraction) like numbers;
 * - ISO-8601 / RFC 3339 strings: `2026-11-20`, `2026-11-20T07:15`, `2026-11-20T07:15:00.123+05:30`, `...Z`;
 *   a date-time without an offset is taken as UTC (the only reproducible choice for a server-side tool);
 *
 * Results are >= 0 (anything before 1970 is rejected as 'negative timestamp': Kafka timestamps cannot be
 * negative either, so such values are almost always a unit or sign mistake) and within the JS Date range.
 *
 * Returns a string (the reason) on failure rather than throwing or allocating a result object, because this runs
 * once per record in the hot path; callers test `typeof result === 'number'`.
 */
export function toEpochMillis (value: unknown, unit: TimestampUnit = 'auto'): number | string {
  switch (typeof value) {
    case 'number': return fromNumber(value, unit)
    case 'string': return fromString(value, unit)
    case 'bigint': return fromNumber(Number(value), unit)
    case 'boolean': return `boolean timestamp (${String(value)})`
    case 'undefined': return 'missing timestamp'
    default:
      if (value === null) return 'null timestamp'
      return Array.isArray(value) ? 'array timestamp' : `${typeof value} timestamp`
  }
}

/** Longest piece of an offending value quoted in a reason. */
const QUOTE_MAX = 40

export function quoteForReason (s: string): string {
  return `"${s.length > QUOTE_MAX ? `${s.slice(0, QUOTE_MAX)}…` : s}"`
}

/** A converter for one configured unit (`auto`: toEpochMillis itself, by magnitude). */
export function epochMillisIn (unit: TimestampUnit): (value: unknown) => number | string {
  return unit === 'auto' ? toEpochMillis : value => toEpochMillis(value, unit)
}

function fromNumber (v: number, unit: TimestampUnit): number | string {
  if (Number.isNaN(v)) return 'timestamp is NaN'
  if (!Number.isFinite(v)) return 'timestamp is not finite'
  if (v < 0) return 'negative timestamp'
  let ms: number
  switch (unit === 'auto' ? v < 1e11 ? 's' : v < 1e14 ? 'ms' : v < 1e17 ? 'us' : 'ns' : unit) {
    case 's': ms = v * 1000; break
    case 'ms': ms = v; break
    case 'us': ms = v / 1e3; break
    default: ms = v / 1e6
  }
  if (!Number.isInteger(ms)) {
    // Round to whole microseconds first so float noise (1.001 * 1000 = 1000.9999999999999) floors correctly.
    ms = Math.floor(Math.round(ms * 1000) / 1000)
  }
  if (ms > MAX_DATE_MS) return 'timestamp out of range'
  return ms === 0 ? 0 : ms // normalises -0
}

const C_0 = 48
const C_9 = 57
const C_MINUS = 45
const C_PLUS = 43
const C_DOT = 46
const C_COMMA = 44
const C_COLON = 58

function isDigit (c: number): boolean {
  return c >= C_0 && c <= C_9
}

function fromString (s: string, unit: TimestampUnit): number | string {
  const n = s.length
  if (n === 0) return 'empty timestamp string'
  const negative = s.charCodeAt(0) === C_MINUS
  let i = negative ? 1 : 0
  const start = i
  while (i < n && isDigit(s.charCodeAt(i))) i++
  const intDigits = i - start
  if (intDigits > 0 && (i === n || (s.charCodeAt(i) === C_DOT && allDigits(s, i + 1) && i + 1 < n))) {
    return negative ? 'negative timestamp' : fromNumber(Number(s), unit)
  }
  if (!negative && intDigits === 4 && s.charCodeAt(4) === C_MINUS) {
    const ms = parseIso(s)
    if (Number.isNaN(ms)) return `unparseable date ${quoteForReason(s)}`
    if (ms < 0) return 'negative timestamp'
    return ms
  }
  return `non-numeric timestamp ${quoteForReason(s)}`
}

/** `Z` or `±hh:mm` at index 10 and nothing after it (xs:date's zone is always hh:mm). */
function dateOnlyWithOffset (s: string, dateMs: number): number {
  const c = s.charCodeAt(10)
  if (c === 90 || c === 122) return s.length === 11 ? dateMs : NaN
  const oh = d2(s, 11)
  const om = d2(s, 14)
  if (s.length !== 16 || s.charCodeAt(13) !== C_COLON || oh < 0 || oh > 14 || om < 0 || om > 59) return NaN
  return dateMs - (oh * 60 + om) * MS_PER_MINUTE * (c === C_MINUS ? -1 : 1)
}

function allDigits (s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false
  return true
}

/** Two decimal digits at i, or -1. */
function d2 (s: string, i: number): number {
  const a = s.charCodeAt(i)
  const b = s.charCodeAt(i + 1)
  return isDigit(a) && isDigit(b) ? (a - C_0) * 10 + (b - C_0) : -1
}

/**
 * Hand-written ISO-8601 parser (extended format only): no regex match arrays and no Date.parse, whose
 * acceptance of non-ISO strings is implementation-defined. Returns NaN when the string is not a valid date.
 * A date-time without an offset is UTC. Also used for configured dates (parser.timestampBounds.notBefore), so
 * that config and messages accept exactly the same syntax.
 */
export function parseIso (s: string): number {
  const n = s.length
  if (n < 10) return NaN
  const y1 = d2(s, 0)
  const y2 = d2(s, 2)
  const month = d2(s, 5)
  const day = d2(s, 8)
  if (y1 < 0 || y2 < 0 || s.charCodeAt(4) !== C_MINUS || s.charCodeAt(7) !== C_MINUS || month < 1 || month > 12) return NaN
  const year = y1 * 100 + y2
  if (day < 1 || day > daysInMonth(year, month)) return NaN
  const dateMs = daysFromCivil(year, month, day) * MS_PER_DAY
  if (n === 10) return dateMs

  const t = s.charCodeAt(10) // 'T', 't' or ' ' (RFC 3339 allows the space)
  // A date with a zone but no time (XML Schema xs:date, which Secor's ISO parser reads): `2001-07-04Z`,
  // `2001-07-04+02:00` — midnight at that offset.
  if (t === 90 || t === 122 || t === C_PLUS || t === C_MINUS) return dateOnlyWithOffset(s, dateMs)
  if ((t !== 84 && t !== 116 && t !== 32) || n < 16) return NaN
  const hour = d2(s, 11)
  const minute = d2(s, 14)
  if (hour < 0 || hour > 23 || s.charCodeAt(13) !== C_COLON || minute < 0 || minute > 59) return NaN
  let i = 16
  let second = 0
  let fracMs = 0
  if (i < n && s.charCodeAt(i) === C_COLON) {
    second = d2(s, i + 1)
    if (second < 0 || second > 60) return NaN // 60: leap second, rolls into the next minute
    i += 3
    const c = s.charCodeAt(i)
    if (i < n && (c === C_DOT || c === C_COMMA)) {
      i++
      const fracStart = i
      while (i < n && isDigit(s.charCodeAt(i))) {
        if (i - fracStart < 3) fracMs = fracMs * 10 + s.charCodeAt(i) - C_0
        i++
      }
      const digits = i - fracStart
      if (digits === 0) return NaN
      if (digits === 1) fracMs *= 100
      else if (digits === 2) fracMs *= 10
    }
  }

  let offsetMs = 0
  if (i < n) {
    const c = s.charCodeAt(i)
    if (c === 90 || c === 122) { // 'Z' / 'z'
      i++
    } else if (c === C_PLUS || c === C_MINUS) {
      const oh = d2(s, i + 1)
      if (oh < 0 || oh > 23) return NaN
      i += 3
      let om = 0
      if (i < n) {
        if (s.charCodeAt(i) === C_COLON) i++
        om = d2(s, i)
        if (om < 0 || om > 59) return NaN
        i += 2
      }
      offsetMs = (oh * 60 + om) * MS_PER_MINUTE * (c === C_MINUS ? -1 : 1)
    } else {
      return NaN
    }
  }
  if (i !== n) return NaN
  return dateMs + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * 1000 + fracMs - offsetMs
}
