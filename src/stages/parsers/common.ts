import type { BadRecord, KafkaRecord, ParsedRecord } from '../../types.js'
import { errorMessage } from '../../errors.js'
import { MAX_DATE_MS } from '../calendar.js'

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
  TOO_FAR_IN_FUTURE: 'timestamp too far in the future',
  /** split: lines — a message holding only blank lines. */
  NO_RECORDS: 'no records (only blank lines)',
  /** Followed by `: <error message>`: the parser threw (a parser should turn every failure into a reason). */
  PARSER_FAILED: 'parser failed'
} as const

/** Where a parser puts its results for one batch. */
export interface ParseOutput {
  /** The batch's topic (custom functions see it). */
  topic: string
  good: ParsedRecord[]
  bad: BadRecord[]
  /** Records a custom parser or transformer filtered out (returned null): counted, not written. */
  filtered: number
}

/**
 * Parses `value` — the message value, or one line of it with `split: lines` — of the Kafka message `record`
 * into `out.good` or `out.bad` (every input ends in one of them, or is counted in `out.filtered`; a parser never
 * throws). Good records get `offset`, `kafka` and the event time of `record`'s message.
 */
export type ValueParser = (value: Buffer | null, record: KafkaRecord, partition: number, out: ParseOutput) => void

/** What the parse stage runs: `parse` per record, and `prepare` per batch before it when set (schema lookups). */
export interface LoadedParser {
  parse: ValueParser
  /** Async work the batch needs first (e.g. unknown schema ids), or undefined when there is none. */
  prepare?: (records: readonly KafkaRecord[]) => Promise<void> | undefined
}

/** A BadRecord for `value` (the message value or a part of it) of `record`. */
export function badRecord (record: KafkaRecord, partition: number, reason: string, value: Buffer | null = record.value): BadRecord {
  return { offset: record.offset, partition, timestamp: record.timestamp, reason, value }
}

/** Longest library error message kept in a reason. */
const MESSAGE_MAX = 120

/** An error's message, shortened for a reason string. */
export function shortMessage (err: unknown): string {
  const message = errorMessage(err)
  return message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}…` : message
}

/** A time for a reason string; never throws (a Kafka timestamp may lie outside the Date range). */
export function isoForReason (ms: number): string {
  return Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : `${ms} ms`
}

export function hasLineBreak (value: Buffer): boolean {
  return value.indexOf(10) !== -1 || value.indexOf(13) !== -1
}

/** A tombstone or an empty value becomes an error record and `false` is returned (parsers of documents). */
export function hasBytes (value: Buffer | null, record: KafkaRecord, partition: number, out: ParseOutput): value is Buffer {
  if (value === null) {
    out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
    return false
  }
  if (value.length === 0) {
    out.bad.push(badRecord(record, partition, Reasons.EMPTY, value))
    return false
  }
  return true
}

/**
 * For the parsers that write opaque text as it is (kafka-timestamp, header, regex): a tombstone, or a value with a
 * line break, becomes an error record and `false` is returned. Output is line-framed and such bytes cannot be
 * repaired without changing the payload; CR counts too, because many line readers split on it.
 */
export function isWritableText (value: Buffer | null, record: KafkaRecord, partition: number, out: ParseOutput, keepLineBreaks = false): value is Buffer {
  if (value === null) {
    out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
    return false
  }
  if (!keepLineBreaks && hasLineBreak(value)) {
    out.bad.push(badRecord(record, partition, Reasons.LINE_BREAK, value))
    return false
  }
  return true
}

/**
 * The output is JSON lines, so a record may not contain a line break. Inside valid JSON a raw CR or LF can only
 * be insignificant whitespace between tokens (JSON strings cannot hold raw control characters), so pretty-printed
 * JSON is made single-line by replacing those bytes with spaces (in a copy: the input is never mutated). Unlike
 * re-serialising with JSON.stringify(doc) this keeps every other byte as produced: big integers keep their digits
 * (no float rounding), key order, duplicate keys and number formatting stay as they were.
 */
export function lineBreaksToSpaces (value: Buffer): Buffer {
  const copy = Buffer.from(value)
  for (let i = 0; i < copy.length; i++) {
    const c = copy[i]
    if (c === 10 || c === 13) copy[i] = 32
  }
  return copy
}

/** The Kafka record timestamp as an event time, or the reason it is not one. */
export function kafkaTimestamp (record: KafkaRecord): number | string {
  const ts = record.timestamp
  if (!Number.isFinite(ts) || ts < 0) return `${Reasons.INVALID_KAFKA_TIMESTAMP} ${String(ts)}`
  return Math.floor(ts)
}

/** Describes a decoded value's JSON type for a reason: "an array", "null", "a number". */
export function kindOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return type === 'object' || type === 'undefined' ? `an ${type}` : `a ${type}`
}

export function isRecordObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value) && !(value instanceof Uint8Array)
}
