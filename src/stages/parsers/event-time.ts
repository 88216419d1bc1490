import type { KafkaRecord } from '../../types.js'
import { FallbackPolicies, TimestampUnits } from '../../config/types.js'
import { ConfigError } from '../../errors.js'
import { MAX_DATE_MS } from '../calendar.js'
import { epochMillisIn, parseIso, toEpochMillis } from '../timestamp.js'
import { compileDatePattern } from './date-pattern.js'
import { kafkaTimestamp } from './common.js'
import type { ParserOptions } from './parser-options.js'

/** Converts a found timestamp value to ms since the epoch, or returns why it cannot (a string). */
export type TimestampConverter = (raw: unknown) => number | string

/** The event time of a message that has none: ms, or the reason it cannot get one. */
export type Fallback = (record: KafkaRecord) => number | string

export interface EventTime {
  /** Numbers in parser.timestampUnit (default by magnitude); strings by `timestampFormat` when set, else digits or ISO-8601 (toEpochMillis). */
  convert: TimestampConverter
  /** null for policy `error` (the parser then words its own "missing ..." reason). */
  fallback: Fallback | null
}

/** Compiles the timestamp options shared by all parsers; ConfigErrors name their `parser.*` path. */
export function compileEventTime (options: Pick<ParserOptions, 'timestampFormat' | 'timestampMatch' | 'timezone' | 'fallback' | 'timestampUnit'>): EventTime {
  const unit = options.timestampUnit ?? 'auto'
  if (!(TimestampUnits as readonly string[]).includes(unit)) {
    throw new ConfigError('parser.timestampUnit', `must be one of ${TimestampUnits.map(u => `"${u}"`).join(', ')}, got ${JSON.stringify(unit)}`)
  }
  const numeric = epochMillisIn(unit)
  let convert: TimestampConverter = numeric
  if (options.timestampFormat !== undefined) {
    const pattern = compileDatePattern(options.timestampFormat, options.timezone ?? 'UTC', undefined, undefined, options.timestampMatch ?? 'full')
    // Only strings follow the pattern: numbers keep their unit (by default by magnitude).
    convert = raw => typeof raw === 'string' ? pattern.parse(raw) : numeric(raw)
  } else if (options.timestampMatch !== undefined) {
    throw new ConfigError('parser.timestampMatch', 'applies to parser.timestampFormat, which is not set')
  } else if (options.timezone !== undefined) {
    // Validated even when unused, so a typo does not wait for the day someone adds a pattern.
    compileDatePattern('yyyy-MM-dd', options.timezone)
  }
  return { convert, fallback: compileFallback(options.fallback) }
}

function compileFallback (fallback: ParserOptions['fallback']): Fallback | null {
  if (fallback === undefined) return null
  const path = 'parser.fallback'
  if (typeof fallback !== 'object' || fallback === null) throw new ConfigError(path, 'must be a mapping like { policy: kafka-timestamp }')
  const { policy, date } = fallback
  if (!(FallbackPolicies as readonly string[]).includes(policy)) {
    throw new ConfigError(`${path}.policy`, `must be one of ${FallbackPolicies.map(p => `"${p}"`).join(', ')}, got ${JSON.stringify(policy)}`)
  }
  if (policy !== 'fixed') {
    if (date !== undefined) throw new ConfigError(`${path}.date`, `only applies to policy "fixed", got policy "${policy}"`)
    return policy === 'error' ? null : kafkaTimestamp
  }
  const ms = typeof date === 'string' ? parseIso(date.trim()) : NaN
  if (Number.isNaN(ms) || ms < 0) {
    throw new ConfigError(`${path}.date`, `policy "fixed" needs an ISO-8601 date or date-time (e.g. "2020-01-01"), got ${JSON.stringify(date) ?? 'nothing'}`)
  }
  return () => ms
}

/**
 * Timestamp values of decoded binary records: besides what `convert` takes, a Date and an object with
 * `seconds` (and optional `nanos`), the shape of google.protobuf.Timestamp after rendering.
 */
export function docTimestamp (convert: TimestampConverter, raw: unknown): number | string {
  if (raw instanceof Date) return toEpochMillis(raw.getTime(), 'ms')
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.hasOwn(raw, 'seconds')) {
    const { seconds, nanos } = raw as { seconds: unknown, nanos?: unknown }
    const s = typeof seconds === 'string' ? Number(seconds) : seconds
    const n = nanos === undefined ? 0 : typeof nanos === 'string' ? Number(nanos) : nanos
    if (typeof s !== 'number' || typeof n !== 'number' || !Number.isFinite(s) || !Number.isFinite(n)) return 'invalid Timestamp object'
    // Exact units here, not by magnitude: { seconds: 1 } is 1000 ms.
    const ms = Math.floor(s * 1000 + n / 1e6)
    if (ms < 0) return 'negative timestamp'
    return ms > MAX_DATE_MS ? 'timestamp out of range' : ms
  }
  return convert(raw)
}
