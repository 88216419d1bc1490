/**
 * Date patterns in the style of Java's DateTimeFormatter (`yyyy-MM-dd HH:mm:ss`, `dd/MMM/yyyy:HH:mm:ss Z`),
 * compiled once into a matcher list and parsed without regex or Date: this runs once per record.
 *
 * Letters (anything else is a literal; `'...'` quotes letters, `''` is a quote):
 *   yyyy/uuuu 4-digit year   yy 2-digit year (2000-2099)
 *   MM month 01-12   M 1-12   MMM Jan..Dec   MMMM January..December (English, any case)
 *   dd day 01-31     d 1-31
 *   HH hour 00-23    H 0-23   hh 01-12   h 1-12 (both need `a`)   a AM/PM
 *   mm minute 00-59  m 0-59   ss second 00-60   s 0-60
 *   S..SSSSSSSSS fraction of a second, exactly that many digits (truncated to milliseconds)
 *   EEE/EEEE day name (read and ignored)
 *   X XX XXX x xx xxx Z ZZ ZZZ an offset: `Z`, `+hh`, `+hhmm` or `+hh:mm` (all offset letters accept all forms)
 *
 * Two-letter (and longer) numeric fields take exactly that many digits, one-letter fields one or two.
 * Matching is `full` by default: the whole value must match. `prefix` (parser.timestampMatch) accepts a value
 * that continues after the pattern, as Java's SimpleDateFormat.parse and so Secor do (`yyyy-MM-dd'T'HH:mm:ss`
 * takes `2014-07-30T10:53:20.001Z`). Not the default: whatever follows is ignored, an offset like `+08:00`
 * included, so a value the pattern does not fully describe lands in the wrong hour instead of in `_errors/`.
 *
 * A pattern without an offset letter gives wall-clock time in the configured zone (`parser.timezone`, default
 * UTC); inside a DST gap a time is shifted forward by the gap, inside an overlap the earlier instant wins
 * (both as in java.time).
 */
import { ConfigError } from '../../errors.js'
import { MAX_DATE_MS, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, daysFromCivil, daysInMonth } from '../calendar.js'
import { quoteForReason } from '../timestamp.js'
import { ZoneOffsets, isUtcZone } from '../zone-offset.js'

const F_YEAR4 = 0
const F_YEAR2 = 1
const F_MONTH = 2
const F_MONTH_NAME = 3
const F_DAY = 4
const F_HOUR24 = 5
const F_HOUR12 = 6
const F_AMPM = 7
const F_MINUTE = 8
const F_SECOND = 9
const F_FRACTION = 10
const F_DAY_NAME = 11
const F_OFFSET = 12
const F_LITERAL = 13

interface Part {
  field: number
  /** Digits: exact count when `fixed`, else 1..width. Fraction: exact digit count. */
  width: number
  fixed: boolean
  literal: string
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december']
const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']

export interface DatePattern {
  readonly source: string
  /** Milliseconds since the epoch, or the reason the text does not match (a string), like toEpochMillis. */
  parse (text: string): number | string
}

/**
 * Compiles `pattern` (see the module comment). `timezone` (IANA) applies to patterns without an offset letter.
 * Throws ConfigError naming `configPath` for an unusable pattern.
 */
/** `full`: the value must end where the pattern ends; `prefix`: anything may follow (SimpleDateFormat's way). */
export type DateMatch = 'full' | 'prefix'
export const DateMatches: readonly DateMatch[] = ['full', 'prefix']

export function compileDatePattern (pattern: string, timezone = 'UTC', configPath = 'parser.timestampFormat', zonePath = 'parser.timezone', match: DateMatch = 'full'): DatePattern {
  if (typeof pattern !== 'string' || pattern.trim() === '') throw new ConfigError(configPath, 'must be a non-empty date pattern like "yyyy-MM-dd HH:mm:ss"')
  const parts = tokenize(pattern, configPath)
  const has = (field: number): boolean => parts.some(p => p.field === field)
  const fail = (message: string): never => { throw new ConfigError(configPath, `${message}, got "${pattern}"`) }
  if (!has(F_YEAR4) && !has(F_YEAR2)) fail('needs a year (yyyy or yy)')
  if (!has(F_MONTH) && !has(F_MONTH_NAME)) fail('needs a month (MM, M or MMM)')
  if (!has(F_DAY)) fail('needs a day of the month (dd or d)')
  if (has(F_HOUR12) !== has(F_AMPM)) fail(has(F_AMPM) ? '"a" (AM/PM) needs a 12-hour field (hh or h); use HH without "a"' : 'a 12-hour field (hh or h) needs "a" (AM/PM); use HH for 0-23')
  if (has(F_HOUR24) && has(F_HOUR12)) fail('has both a 24-hour (HH) and a 12-hour (hh) field')
  for (const field of [F_YEAR4, F_YEAR2, F_MONTH, F_MONTH_NAME, F_DAY, F_HOUR24, F_HOUR12, F_AMPM, F_MINUTE, F_SECOND, F_FRACTION, F_OFFSET]) {
    if (parts.filter(p => p.field === field).length > 1) fail('repeats a field')
  }
  if (has(F_YEAR4) && has(F_YEAR2)) fail('repeats a field')
  if (has(F_MONTH) && has(F_MONTH_NAME)) fail('repeats a field')
  const zone = has(F_OFFSET) || isUtcZone(timezone) ? null : new ZoneOffsets(timezone, zonePath)
  return new CompiledPattern(pattern, parts, zone, match === 'prefix')
}

function tokenize (pattern: string, configPath: string): Part[] {
  const parts: Part[] = []
  const literal = (text: string): void => {
    const last = parts[parts.length - 1]
    if (last?.field === F_LITERAL) last.literal += text
    else parts.push({ field: F_LITERAL, width: 0, fixed: true, literal: text })
  }
  let i = 0
  while (i < pattern.length) {
    const c = pattern[i] as string
    if (c === "'") {
      if (pattern[i + 1] === "'") { literal("'"); i += 2; continue }
      const end = pattern.indexOf("'", i + 1)
      if (end === -1) throw new ConfigError(configPath, `has an unterminated quote, got "${pattern}"`)
      literal(pattern.slice(i + 1, end))
      i = end + 1
      continue
    }
    if (!/[A-Za-z]/.test(c)) { literal(c); i++; continue }
    let n = 1
    while (pattern[i + n] === c) n++
    i += n
    const bad = (): never => { throw new ConfigError(configPath, `unsupported pattern letters "${c.repeat(n)}" (see the parser.timestampFormat documentation), got "${pattern}"`) }
    const numeric = (field: number, widths: number[]): void => {
      if (!widths.includes(n)) bad()
      parts.push({ field, width: n === 1 ? 2 : n, fixed: n !== 1, literal: '' })
    }
    switch (c) {
      case 'y': case 'u':
        if (n === 4) parts.push({ field: F_YEAR4, width: 4, fixed: true, literal: '' })
        else if (n === 2) parts.push({ field: F_YEAR2, width: 2, fixed: true, literal: '' })
        else bad()
        break
      case 'M':
        if (n >= 3 && n <= 4) parts.push({ field: F_MONTH_NAME, width: n, fixed: true, literal: '' })
        else numeric(F_MONTH, [1, 2])
        break
      case 'd': numeric(F_DAY, [1, 2]); break
      case 'H': numeric(F_HOUR24, [1, 2]); break
      case 'h': numeric(F_HOUR12, [1, 2]); break
      case 'm': numeric(F_MINUTE, [1, 2]); break
      case 's': numeric(F_SECOND, [1, 2]); break
      case 'S': if (n > 9) bad(); parts.push({ field: F_FRACTION, width: n, fixed: true, literal: '' }); break
      case 'a': if (n !== 1) bad(); parts.push({ field: F_AMPM, width: 2, fixed: true, literal: '' }); break
      case 'E': if (n < 3 || n > 4) bad(); parts.push({ field: F_DAY_NAME, width: n, fixed: true, literal: '' }); break
      case 'X': case 'x': case 'Z': if (n > 3) bad(); parts.push({ field: F_OFFSET, width: n, fixed: true, literal: '' }); break
      default: bad()
    }
  }
  return parts
}

class CompiledPattern implements DatePattern {
  readonly source: string
  readonly #parts: Part[]
  readonly #zone: ZoneOffsets | null
  readonly #prefix: boolean

  constructor (source: string, parts: Part[], zone: ZoneOffsets | null, prefix: boolean) {
    this.source = source
    this.#parts = parts
    this.#zone = zone
    this.#prefix = prefix
  }

  parse (text: string): number | string {
    const ms = this.#parse(text)
    if (Number.isNaN(ms)) return `timestamp ${quoteForReason(text)} does not match the pattern "${this.source}"`
    if (ms < 0) return 'negative timestamp'
    if (ms > MAX_DATE_MS) return 'timestamp out of range'
    return ms
  }

  #parse (s: string): number {
    let year = -1; let month = -1; let day = -1; let hour = 0; let minute = 0; let second = 0; let fraction = 0
    let pm = -1; let offsetMs = 0; let hasOffset = false
    let i = 0
    const n = s.length
    for (const part of this.#parts) {
      switch (part.field) {
        case F_LITERAL:
          if (!s.startsWith(part.literal, i)) return NaN
          i += part.literal.length
          continue
        case F_MONTH_NAME: {
          const m = nameAt(s, i, MONTHS, part.width === 3)
          if (m < 0) return NaN
          month = m + 1
          i += part.width === 3 ? 3 : (MONTHS[m] as string).length
          continue
        }
        case F_DAY_NAME: {
          const d = nameAt(s, i, DAYS, part.width === 3)
          if (d < 0) return NaN
          i += part.width === 3 ? 3 : (DAYS[d] as string).length
          continue
        }
        case F_AMPM: {
          const c = s.charCodeAt(i) | 0x20
          if ((c !== 0x61 && c !== 0x70) || (s.charCodeAt(i + 1) | 0x20) !== 0x6d) return NaN // a/p, m
          pm = c === 0x70 ? 1 : 0
          i += 2
          continue
        }
        case F_OFFSET: {
          const c = s.charCodeAt(i)
          if (c === 0x5a || c === 0x7a) { hasOffset = true; i++; continue } // Z
          if (c !== 0x2b && c !== 0x2d) return NaN
          const oh = digitsAt(s, i + 1, 2)
          if (oh < 0 || oh > 23) return NaN
          i += 3
          let om = 0
          if (s.charCodeAt(i) === 0x3a) { // ':'
            om = digitsAt(s, i + 1, 2)
            if (om < 0) return NaN
            i += 3
          } else if (i + 2 <= n && digitsAt(s, i, 2) >= 0) {
            om = digitsAt(s, i, 2)
            i += 2
          }
          if (om > 59) return NaN
          offsetMs = (oh * 60 + om) * MS_PER_MINUTE * (c === 0x2d ? -1 : 1)
          hasOffset = true
          continue
        }
        default: break
      }
      // Numeric fields.
      let value: number
      let width: number
      if (part.fixed) {
        width = part.width
        value = digitsAt(s, i, width)
        if (value < 0) return NaN
      } else {
        width = isDigit(s.charCodeAt(i + 1)) ? 2 : 1
        value = digitsAt(s, i, width)
        if (value < 0) return NaN
      }
      i += width
      switch (part.field) {
        case F_YEAR4: year = value; break
        case F_YEAR2: year = 2000 + value; break
        case F_MONTH: month = value; break
        case F_DAY: day = value; break
        case F_HOUR24: if (value > 23) return NaN; hour = value; break
        case F_HOUR12: if (value < 1 || value > 12) return NaN; hour = value; break
        case F_MINUTE: if (value > 59) return NaN; minute = value; break
        case F_SECOND: if (value > 60) return NaN; second = value; break
        case F_FRACTION: fraction = width <= 3 ? value * 10 ** (3 - width) : Math.floor(value / 10 ** (width - 3)); break
      }
    }
    if (i !== n && !this.#prefix) return NaN
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN
    if (pm >= 0) hour = (hour % 12) + (pm === 1 ? 12 : 0)
    const wall = daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * 1000 + fraction
    if (hasOffset) return wall - offsetMs
    return this.#zone === null ? wall : wallToUtc(this.#zone, wall)
  }
}

/** Six hours before an instant is before any transition that could affect it (offsets move by at most a few hours). */
const LOOK_BACK_MS = 6 * MS_PER_HOUR

/** A zone's wall-clock time → UTC, with java.time's rules for gaps (shift forward) and overlaps (earlier instant). */
function wallToUtc (zone: ZoneOffsets, wall: number): number {
  const o1 = zone.offsetAt(wall - zone.offsetAt(wall))
  const utc = wall - o1
  const o0 = zone.offsetAt(utc - LOOK_BACK_MS)
  if (o0 > o1) {
    const earlier = wall - o0
    if (zone.offsetAt(earlier) === o0) return earlier
  }
  return utc
}

function isDigit (c: number): boolean {
  return c >= 48 && c <= 57
}

/** The value of exactly `count` decimal digits at i, or -1. */
function digitsAt (s: string, i: number, count: number): number {
  let v = 0
  for (let k = 0; k < count; k++) {
    const c = s.charCodeAt(i + k)
    if (!isDigit(c)) return -1
    v = v * 10 + c - 48
  }
  return v
}

/** Index of the (English, case-insensitive) name at i: abbreviated to 3 letters or in full; -1 if none. */
function nameAt (s: string, i: number, names: readonly string[], short: boolean): number {
  for (let k = 0; k < names.length; k++) {
    const name = names[k] as string
    const length = short ? 3 : name.length
    if (s.length - i >= length && s.slice(i, i + length).toLowerCase() === name.slice(0, length)) return k
  }
  return -1
}
