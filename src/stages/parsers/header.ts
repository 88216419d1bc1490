import { HeaderEncodings, type HeaderEncoding } from '../../config/types.js'
import { ConfigError } from '../../errors.js'
import { MAX_DATE_MS } from '../calendar.js'
import { badRecord, isWritableText, type ValueParser } from './common.js'
import type { EventTime } from './event-time.js'
import { compileHeaderFields, type FieldSpec } from './fields.js'

export interface HeaderParserOptions {
  /** The header holding the event time. */
  name: string
  /** text (default): digits by magnitude, ISO-8601, or parser.timestampFormat; int64be: 8 bytes, ms since the epoch. */
  encoding?: HeaderEncoding
  eventTime: EventTime
  fields?: readonly FieldSpec[]
  /** See ParserOptions.keepLineBreaks. */
  keepLineBreaks?: boolean
}

/**
 * The `header` parser: the value is opaque (written as is, like kafka-timestamp), the event time comes from a
 * Kafka header. An absent header follows parser.fallback (default: an error record).
 */
export function headerParser (options: HeaderParserOptions): ValueParser {
  const { name, eventTime } = options
  const keepLineBreaks = options.keepLineBreaks === true
  if (typeof name !== 'string' || name === '') throw new ConfigError('parser.header.name', 'is required for the header parser (the header holding the timestamp)')
  const encoding = options.encoding ?? 'text'
  if (!(HeaderEncodings as readonly string[]).includes(encoding)) {
    throw new ConfigError('parser.header.encoding', `must be one of ${HeaderEncodings.map(e => `"${e}"`).join(', ')}, got ${JSON.stringify(encoding)}`)
  }
  const { convert, fallback } = eventTime
  const headerFields = compileHeaderFields(options.fields ?? [])
  const missingReason = `missing timestamp header "${name}"`
  return (value, record, partition, out) => {
    if (!isWritableText(value, record, partition, out, keepLineBreaks)) return
    const header = record.headers[name]
    let ms: number | string
    if (header === undefined || header.length === 0) {
      ms = fallback === null ? missingReason : fallback(record)
    } else {
      ms = encoding === 'int64be' ? int64Millis(header) : convert(typeof header === 'string' ? header : header.toString('utf8'))
      if (typeof ms === 'string') ms = `header "${name}": ${ms}`
    }
    if (typeof ms === 'string') {
      out.bad.push(badRecord(record, partition, ms, value))
      return
    }
    const f = headerFields?.(record)
    out.good.push(f === undefined
      ? { offset: record.offset, value, timestampMs: ms, kafka: record }
      : { offset: record.offset, value, timestampMs: ms, kafka: record, fields: f })
  }
}

function int64Millis (header: Buffer | string): number | string {
  if (typeof header === 'string' || header.length !== 8) return `an int64be timestamp header must be 8 bytes, got ${header.length}`
  const ms = header.readBigInt64BE(0)
  if (ms < 0n) return 'negative timestamp'
  return ms > BigInt(MAX_DATE_MS) ? 'timestamp out of range' : Number(ms)
}
