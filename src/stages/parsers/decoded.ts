import type { KafkaRecord, ParsedRecord } from '../../types.js'
import { MISSING, compileFieldPath } from '../field-path.js'
import { badRecord, isRecordObject, kindOf, shortMessage, type ParseOutput } from './common.js'
import { docTimestamp, type EventTime } from './event-time.js'
import { compileDocFields, type FieldSpec } from './fields.js'
import { renderDoc } from './render.js'

export interface DecodedOptions {
  timestampField: string
  eventTime: EventTime
  fields?: readonly FieldSpec[]
}

/**
 * Turns a decoded binary record (msgpack, protobuf, avro) into a good record — `doc` the plain rendering,
 * `value` its JSON line, `raw` the original bytes — or a bad one. `what` names the format for reasons.
 */
export type DecodedRecordSink = (decoded: unknown, bytes: Buffer, record: KafkaRecord, partition: number, out: ParseOutput) => void

export function decodedRecordSink (options: DecodedOptions, what: string, topLevel = 'a map'): DecodedRecordSink {
  const getTimestamp = compileFieldPath(options.timestampField)
  const { convert, fallback } = options.eventTime
  const docFields = compileDocFields(options.fields ?? [])
  const missingReason = `missing timestamp field "${options.timestampField}"`
  return (decoded, bytes, record, partition, out) => {
    if (!isRecordObject(decoded)) {
      out.bad.push(badRecord(record, partition, `${what} top level is ${kindOf(decoded)}, expected ${topLevel}`, bytes))
      return
    }
    let rendered
    try {
      rendered = renderDoc(decoded)
    } catch (err) {
      out.bad.push(badRecord(record, partition, `cannot render ${what} as JSON: ${shortMessage(err)}`, bytes))
      return
    }
    const { doc, value } = rendered
    const raw = getTimestamp(doc)
    let ms: number | string
    if (raw === MISSING || raw === null) {
      ms = fallback === null ? (raw === null ? 'null timestamp' : missingReason) : fallback(record)
    } else {
      ms = docTimestamp(convert, raw)
    }
    if (typeof ms === 'string') {
      out.bad.push(badRecord(record, partition, ms, bytes))
      return
    }
    const parsed: ParsedRecord = { offset: record.offset, value, timestampMs: ms, kafka: record, raw: bytes, doc }
    if (docFields !== null) {
      const fields = docFields(doc)
      if (typeof fields === 'string') {
        out.bad.push(badRecord(record, partition, fields, bytes))
        return
      }
      if (fields !== undefined) parsed.fields = fields
    }
    out.good.push(parsed)
  }
}
