import { Transform, type TransformCallback } from 'node:stream'
import { isUtf8 } from 'node:buffer'
import type { BadRecord, KafkaRecord, ParsedBatch, ParsedRecord, PipelineItem, RecordBatch } from '../types.js'
import { ParserLimits, ParserTypes, type ParserType, type TimestampBoundsConfig } from '../config/types.js'
import { ConfigError, errorMessage } from '../errors.js'
import { MISSING, compileFieldPath, type FieldGetter } from './field-path.js'
import { JsonFieldScanner, ScanResult, ValueKind, numberAt } from './json-scan.js'
import { MAX_DATE_MS } from './calendar.js'
import { parseIso, toEpochMillis } from './timestamp.js'
import { stageHighWaterMark, type StageStreamOptions } from './stream-options.js'

export interface ParseOptions extends StageStreamOptions {
  type: ParserType
  /** Dotted path of the event-time field; required for `json`. */
  timestampField?: string
  /** Longer values (bytes) become BadRecords without being parsed (default 8 MiB, at least 1024). */
  maxMessageBytes?: number
  /**
   * Event-time bounds (see TimestampBoundsConfig): default no lower bound and at most 7 days ahead of now;
   * `maxFutureSeconds: 0` disables the upper bound.
   */
  timestampBounds?: Partial<TimestampBoundsConfig>
  /** Clock for the future bound, read once per batch (default Date.now; tests inject a fixed one). */
  now?: () => number
}

/**
 * RecordBatch → ParsedBatch. Every record ends up either in `good` (with its event time) or in `bad` (with a
 * reason): a bad message never throws and never vanishes. Other items pass through unchanged and in order.
 */
export function parseStage (options: ParseOptions): ParseStage {
  return new ParseStage(options)
}

export const Reasons = {
  TOMBSTONE: 'tombstone (null value)',
  EMPTY: 'empty value',
  INVALID_UTF8: 'invalid UTF-8',
  LINE_BREAK: 'value contains a line break',
  INVALID_KAFKA_TIMESTAMP: 'invalid Kafka record timestamp',
  /** Followed by ` (<length> bytes > <maxMessageBytes>)`. */
  TOO_LARGE: 'message too large',
  /** Followed by ` (<event time> < <notBefore>)`, both as ISO-8601 UTC. */
  BEFORE_NOT_BEFORE: 'timestamp before notBefore',
  /** Followed by ` (<event time> > <limit> = now + <maxFutureSeconds>s)`. */
  TOO_FAR_IN_FUTURE: 'timestamp too far in the future'
} as const

/** Longest JSON.parse message kept in a reason (V8 quotes a piece of the input in some messages). */
const JSON_MESSAGE_MAX = 120

/** Parses one record into `good` or `bad` (exported for the differential test of the two JSON paths). */
export type RecordParser = (record: KafkaRecord, partition: number, good: ParsedRecord[], bad: BadRecord[]) => void

export class ParseStage extends Transform {
  readonly #parseRecord: RecordParser
  readonly #maxMessageBytes: number
  /** -Infinity when there is no lower bound. */
  readonly #notBeforeMs: number
  /** 0 when the upper bound is disabled. */
  readonly #maxFutureMs: number
  readonly #now: () => number

  constructor (options: ParseOptions) {
    const hwm = stageHighWaterMark(options, 'parser')
    super({ objectMode: true, highWaterMark: hwm })
    const type = options.type
    if (!(ParserTypes as readonly string[]).includes(type)) {
      throw new ConfigError('parser.type', `must be one of ${ParserTypes.join(', ')}, got ${String(type)}`)
    }
    if (type === 'json') {
      const field = options.timestampField
      if (field === undefined) throw new ConfigError('parser.timestampField', 'is required for the json parser')
      this.#parseRecord = jsonRecordParser(field)
    } else {
      this.#parseRecord = kafkaTimestampParser
    }

    const maxBytes = options.maxMessageBytes ?? ParserLimits.DEFAULT_MAX_MESSAGE_BYTES
    if (!Number.isSafeInteger(maxBytes) || maxBytes < ParserLimits.MIN_MAX_MESSAGE_BYTES) {
      throw new ConfigError('parser.maxMessageBytes', `must be an integer >= ${ParserLimits.MIN_MAX_MESSAGE_BYTES}, got ${String(maxBytes)}`)
    }
    this.#maxMessageBytes = maxBytes

    const bounds = options.timestampBounds ?? {}
    const maxFuture = bounds.maxFutureSeconds ?? ParserLimits.DEFAULT_MAX_FUTURE_SECONDS
    if (!Number.isSafeInteger(maxFuture) || maxFuture < 0) {
      throw new ConfigError('parser.timestampBounds.maxFutureSeconds', `must be an integer >= 0 (0 disables the check), got ${String(maxFuture)}`)
    }
    this.#maxFutureMs = maxFuture * 1000
    const notBefore = bounds.notBefore ?? undefined
    this.#notBeforeMs = -Infinity
    if (notBefore !== undefined) {
      const ms = typeof notBefore === 'string' ? parseIso(notBefore) : NaN
      if (Number.isNaN(ms)) {
        throw new ConfigError('parser.timestampBounds.notBefore', `not an ISO-8601 date or date-time (e.g. "2020-01-01" or "2020-01-01T00:00:00Z"), got ${String(notBefore)}`)
      }
      this.#notBeforeMs = ms
    }
    this.#now = options.now ?? Date.now
  }

  override _transform (item: PipelineItem, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (item.kind !== 'batch') {
      callback(null, item)
      return
    }
    callback(null, this.#parseBatch(item))
  }

  #parseBatch (batch: RecordBatch): ParsedBatch {
    const good: ParsedRecord[] = []
    const bad: BadRecord[] = []
    const { records, partition } = batch
    const parseRecord = this.#parseRecord
    const maxBytes = this.#maxMessageBytes
    const notBeforeMs = this.#notBeforeMs
    // "now" once per batch: one clock read instead of thousands, and one consistent limit for the whole batch.
    const maxMs = this.#maxFutureMs === 0 ? Infinity : this.#now() + this.#maxFutureMs
    // The batch's event-time high mark travels with it to the commit metadata (a watermark for finalizers);
    // the bounds keep a far-future time out of it.
    let maxEventTime = -Infinity
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as KafkaRecord
      const value = record.value
      // Decided before any parsing, so a huge value is never scanned, decoded or copied here.
      if (value !== null && value.length > maxBytes) {
        bad.push(badRecord(record, partition, `${Reasons.TOO_LARGE} (${value.length} bytes > ${maxBytes})`))
        continue
      }
      const n = good.length
      parseRecord(record, partition, good, bad)
      if (good.length === n) continue
      // Checked on the parsed record (rather than in each parser) so both parser types, and both JSON paths,
      // share one rule; the rare violator is taken back out of `good` with its original bytes.
      const ts = (good[n] as ParsedRecord).timestampMs
      if (ts < notBeforeMs || ts > maxMs) {
        good.pop()
        bad.push(badRecord(record, partition, ts < notBeforeMs
          ? `${Reasons.BEFORE_NOT_BEFORE} (${isoForReason(ts)} < ${isoForReason(notBeforeMs)})`
          : `${Reasons.TOO_FAR_IN_FUTURE} (${isoForReason(ts)} > ${isoForReason(maxMs)} = now + ${this.#maxFutureMs / 1000}s)`))
      } else if (ts > maxEventTime) {
        maxEventTime = ts
      }
    }
    return {
      kind: 'parsed',
      topic: batch.topic,
      partition,
      epoch: batch.epoch,
      firstOffset: batch.firstOffset,
      nextOffset: batch.nextOffset,
      rawBytes: batch.rawBytes,
      ...(good.length > 0 ? { maxEventTime } : {}),
      good,
      bad
    }
  }
}

/** A time for a reason string; never throws (a Kafka timestamp may lie outside the Date range). */
function isoForReason (ms: number): string {
  return Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : `${ms} ms`
}

function badRecord (record: KafkaRecord, partition: number, reason: string): BadRecord {
  return { offset: record.offset, partition, timestamp: record.timestamp, reason, value: record.value }
}

/**
 * The `json` parser. `fastPath` (default) first runs the allocation-free scanner, which settles the common
 * case (a valid object whose timestamp is a number or a plain string) several times faster than JSON.parse;
 * whatever it is not certain about goes through JSON.parse. Both paths give identical results.
 */
export function jsonRecordParser (field: string, fastPath = true): RecordParser {
  const slow = jsonParseRecordParser(compileFieldPath(field), field)
  if (!fastPath) return slow
  const scanner = new JsonFieldScanner(field.split('.'))
  const missingReason = missingFieldReason(field)
  return (record, partition, good, bad) => {
    const value = record.value
    if (value === null || value.length === 0) {
      slow(record, partition, good, bad)
      return
    }
    const result = scanner.scan(value)
    if (result === ScanResult.MISSING) {
      bad.push(badRecord(record, partition, missingReason))
      return
    }
    if (result !== ScanResult.FOUND) {
      slow(record, partition, good, bad)
      return
    }
    const { valueStart, valueEnd } = scanner
    const ms = toEpochMillis(scanner.valueKind === ValueKind.NUMBER
      ? numberAt(value, valueStart, valueEnd)
      : value.toString('utf8', valueStart, valueEnd))
    if (typeof ms === 'string') {
      bad.push(badRecord(record, partition, ms))
      return
    }
    good.push({ offset: record.offset, value: scanner.lineBreak ? lineBreaksToSpaces(value) : value, timestampMs: ms })
  }
}

function missingFieldReason (field: string): string {
  return `missing timestamp field "${field}"`
}

/** The reference `json` parser: JSON.parse and an own-property lookup. */
function jsonParseRecordParser (getTimestamp: FieldGetter, field: string): RecordParser {
  const missingReason = missingFieldReason(field)
  return (record, partition, good, bad) => {
    const value = record.value
    if (value === null) {
      bad.push(badRecord(record, partition, Reasons.TOMBSTONE))
      return
    }
    if (value.length === 0) {
      bad.push(badRecord(record, partition, Reasons.EMPTY))
      return
    }
    // Invalid sequences decode to U+FFFD, so the (native) isUtf8 check is only needed when the text has one.
    const text = value.toString()
    if (text.indexOf('\uFFFD') !== -1 && !isUtf8(value)) {
      bad.push(badRecord(record, partition, Reasons.INVALID_UTF8))
      return
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (err) {
      bad.push(badRecord(record, partition, jsonErrorReason(err)))
      return
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      bad.push(badRecord(record, partition, topLevelReason(doc)))
      return
    }
    const raw = getTimestamp(doc)
    if (raw === MISSING) {
      bad.push(badRecord(record, partition, missingReason))
      return
    }
    const ms = toEpochMillis(raw)
    if (typeof ms === 'string') {
      bad.push(badRecord(record, partition, ms))
      return
    }
    const out = text.indexOf('\n') === -1 && text.indexOf('\r') === -1 ? value : lineBreaksToSpaces(value)
    good.push({ offset: record.offset, value: out, timestampMs: ms })
  }
}

/** The `kafka-timestamp` parser: any bytes, event time = the Kafka record timestamp. */
function kafkaTimestampParser (record: KafkaRecord, partition: number, good: ParsedRecord[], bad: BadRecord[]): void {
  const value = record.value
  if (value === null) {
    bad.push(badRecord(record, partition, Reasons.TOMBSTONE))
    return
  }
  // Output is line-framed and the bytes are opaque here (not necessarily JSON), so a line break cannot be
  // repaired without changing the payload: such a message goes to the error output instead. CR counts too,
  // because many line readers split on it.
  if (value.indexOf(10) !== -1 || value.indexOf(13) !== -1) {
    bad.push(badRecord(record, partition, Reasons.LINE_BREAK))
    return
  }
  const ts = record.timestamp
  if (!Number.isFinite(ts) || ts < 0) {
    bad.push(badRecord(record, partition, `${Reasons.INVALID_KAFKA_TIMESTAMP} ${String(ts)}`))
    return
  }
  good.push({ offset: record.offset, value, timestampMs: Math.floor(ts) })
}

function jsonErrorReason (err: unknown): string {
  let message = errorMessage(err)
  if (message.length > JSON_MESSAGE_MAX) message = `${message.slice(0, JSON_MESSAGE_MAX)}…`
  // V8: "Unexpected end of JSON input", "Unterminated string in JSON at position N".
  const truncated = message.includes('end of JSON input') || message.startsWith('Unterminated string')
  return `${truncated ? 'truncated JSON' : 'not JSON'}: ${message}`
}

function topLevelReason (doc: unknown): string {
  const kind = Array.isArray(doc) ? 'an array' : doc === null ? 'null' : `a ${typeof doc}`
  return `JSON top level is ${kind}, expected an object`
}

/**
 * The output is JSON lines, so a record may not contain a line break. Inside valid JSON a raw CR or LF can only
 * be insignificant whitespace between tokens (JSON strings cannot hold raw control characters), so pretty-printed
 * JSON is made single-line by replacing those bytes with spaces (in a copy: the input is never mutated). Unlike
 * re-serialising with JSON.stringify(doc) this keeps every other byte as produced: big integers keep their digits
 * (no float rounding), key order, duplicate keys and number formatting stay as they were.
 */
function lineBreaksToSpaces (value: Buffer): Buffer {
  const copy = Buffer.from(value)
  for (let i = 0; i < copy.length; i++) {
    const c = copy[i]
    if (c === 10 || c === 13) copy[i] = 32
  }
  return copy
}
