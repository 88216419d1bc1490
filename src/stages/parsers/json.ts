import { isUtf8 } from 'node:buffer'
import type { BadRecord, KafkaRecord, ParsedRecord } from '../../types.js'
import { MISSING, compileFieldPath } from '../field-path.js'
import { JsonFieldScanner, ScanResult, ValueKind, numberAt } from '../json-scan.js'
import { toEpochMillis } from '../timestamp.js'
import { Reasons, badRecord, hasBytes, kindOf, lineBreaksToSpaces, shortMessage, type ParseOutput, type ValueParser } from './common.js'
import type { EventTime } from './event-time.js'
import { compileDocFields, type FieldSpec } from './fields.js'

/** Up to this many parser.fields are read by the scanner (one pass each); more go through JSON.parse. */
const MAX_SCANNED_FIELDS = 1

export interface JsonParserOptions {
  /** Dotted path of the event-time field. */
  timestampField: string
  /** Timestamp conversion and fallback (default: toEpochMillis, no fallback). */
  eventTime?: EventTime
  /** parser.fields. */
  fields?: readonly FieldSpec[]
  /** Default true; false is the JSON.parse reference path (the differential test compares the two). */
  fastPath?: boolean
}

/**
 * The `json` parser. The fast path first runs the allocation-free scanner, which settles the common case (a
 * valid object whose timestamp — and each `fields` value — is a number or a plain string) several times faster
 * than JSON.parse; whatever it is not certain about goes through JSON.parse. Both paths give identical results.
 *
 * Good records keep the message bytes as `value` (line breaks, necessarily insignificant whitespace, replaced by
 * spaces; then `raw` holds the original). `doc` is left unset on purpose, on both paths: building it is what the
 * scanner avoids. A consumer that needs the document (an output format) JSON.parses `value`.
 */
export function jsonParser (options: JsonParserOptions): ValueParser {
  const field = options.timestampField
  const convert = options.eventTime?.convert ?? toEpochMillis
  const fallback = options.eventTime?.fallback ?? null
  const specs = options.fields ?? []
  const slow = jsonParseParser(options)
  // Each field costs the scanner a pass over the message: beyond one field JSON.parse (one pass) is faster
  // (measured on ~200-byte messages: 1 field 1.25 µs vs 1.65 µs; 2 fields 2.1 µs vs 1.9 µs).
  if (options.fastPath === false || specs.length > MAX_SCANNED_FIELDS) return slow
  const scanner = new JsonFieldScanner(field.split('.'))
  const fieldScanners = specs.map(s => ({ name: s.name, scanner: new JsonFieldScanner(s.path.split('.')) }))
  const missingReason = missingFieldReason(field)
  return (value, record, partition, out) => {
    if (value === null || value.length === 0) {
      slow(value, record, partition, out)
      return
    }
    const result = scanner.scan(value)
    let ms: number | string
    if (result === ScanResult.FOUND) {
      const { valueStart, valueEnd } = scanner
      ms = convert(scanner.valueKind === ValueKind.NUMBER
        ? numberAt(value, valueStart, valueEnd)
        : value.toString('utf8', valueStart, valueEnd))
    } else if (result === ScanResult.MISSING) {
      if (fallback === null) {
        out.bad.push(badRecord(record, partition, missingReason, value))
        return
      }
      ms = fallback(record)
    } else {
      slow(value, record, partition, out)
      return
    }
    if (typeof ms === 'string') {
      out.bad.push(badRecord(record, partition, ms, value))
      return
    }
    const lineBreak = scanner.lineBreak
    if (fieldScanners.length === 0) {
      out.good.push(lineBreak
        ? { offset: record.offset, value: lineBreaksToSpaces(value), timestampMs: ms, kafka: record, raw: value }
        : { offset: record.offset, value, timestampMs: ms, kafka: record })
      return
    }
    let fields: Record<string, string> | undefined
    for (let i = 0; i < fieldScanners.length; i++) {
      const f = fieldScanners[i] as { name: string, scanner: JsonFieldScanner }
      const r = f.scanner.scan(value)
      if (r === ScanResult.MISSING) continue
      if (r !== ScanResult.FOUND) {
        slow(value, record, partition, out)
        return
      }
      const s = f.scanner
      // Numbers as JSON.parse + String() would give them (1e3 → "1000"), so both paths agree.
      const text = s.valueKind === ValueKind.NUMBER ? String(numberAt(value, s.valueStart, s.valueEnd)) : value.toString('utf8', s.valueStart, s.valueEnd)
      if (text !== '') (fields ??= {})[f.name] = text
    }
    const parsed: ParsedRecord = lineBreak
      ? { offset: record.offset, value: lineBreaksToSpaces(value), timestampMs: ms, kafka: record, raw: value }
      : { offset: record.offset, value, timestampMs: ms, kafka: record }
    if (fields !== undefined) parsed.fields = fields
    out.good.push(parsed)
  }
}

function missingFieldReason (field: string): string {
  return `missing timestamp field "${field}"`
}

/** The reference `json` parser: JSON.parse and own-property lookups. */
function jsonParseParser (options: JsonParserOptions): ValueParser {
  const field = options.timestampField
  const getTimestamp = compileFieldPath(field)
  const convert = options.eventTime?.convert ?? toEpochMillis
  const fallback = options.eventTime?.fallback ?? null
  const docFields = compileDocFields(options.fields ?? [])
  const missingReason = missingFieldReason(field)
  return (value, record, partition, out) => {
    if (!hasBytes(value, record, partition, out)) return
    // Invalid sequences decode to U+FFFD, so the (native) isUtf8 check is only needed when the text has one.
    const text = value.toString()
    if (text.indexOf('\uFFFD') !== -1 && !isUtf8(value)) {
      out.bad.push(badRecord(record, partition, Reasons.INVALID_UTF8, value))
      return
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (err) {
      out.bad.push(badRecord(record, partition, jsonErrorReason(err), value))
      return
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      out.bad.push(badRecord(record, partition, `JSON top level is ${kindOf(doc)}, expected an object`, value))
      return
    }
    const raw = getTimestamp(doc)
    let ms: number | string
    // With a fallback, null counts as absent; without one it keeps its own reason ("null timestamp").
    if (raw === MISSING || (raw === null && fallback !== null)) {
      if (fallback === null) {
        out.bad.push(badRecord(record, partition, missingReason, value))
        return
      }
      ms = fallback(record)
    } else {
      ms = convert(raw)
    }
    if (typeof ms === 'string') {
      out.bad.push(badRecord(record, partition, ms, value))
      return
    }
    const fields = docFields === null ? undefined : docFields(doc)
    if (typeof fields === 'string') {
      out.bad.push(badRecord(record, partition, fields, value))
      return
    }
    const parsed: ParsedRecord = text.indexOf('\n') === -1 && text.indexOf('\r') === -1
      ? { offset: record.offset, value, timestampMs: ms, kafka: record }
      : { offset: record.offset, value: lineBreaksToSpaces(value), timestampMs: ms, kafka: record, raw: value }
    if (fields !== undefined) parsed.fields = fields
    out.good.push(parsed)
  }
}

function jsonErrorReason (err: unknown): string {
  const message = shortMessage(err)
  // V8: "Unexpected end of JSON input", "Unterminated string in JSON at position N".
  const truncated = message.includes('end of JSON input') || message.startsWith('Unterminated string')
  return `${truncated ? 'truncated JSON' : 'not JSON'}: ${message}`
}

/** Parses one whole message into `good` or `bad` (the form the differential test of the two JSON paths uses). */
export type RecordParser = (record: KafkaRecord, partition: number, good: ParsedRecord[], bad: BadRecord[]) => void

/** The `json` parser for one field, as a RecordParser (`fastPath` false: the JSON.parse reference path). */
export function jsonRecordParser (field: string, fastPath = true): RecordParser {
  const parse = jsonParser({ timestampField: field, fastPath })
  return (record, partition, good, bad) => {
    const out: ParseOutput = { topic: '', good, bad, filtered: 0 }
    parse(record.value, record, partition, out)
  }
}
