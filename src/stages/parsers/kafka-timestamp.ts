import { badRecord, isWritableText, kafkaTimestamp, type ValueParser } from './common.js'
import { compileHeaderFields, type FieldSpec } from './fields.js'

/**
 * The `kafka-timestamp` parser: any bytes, event time = the Kafka record timestamp. `fields` name Kafka headers
 * (the value is opaque here).
 */
export function kafkaTimestampParser (fields: readonly FieldSpec[] = [], keepLineBreaks = false): ValueParser {
  const headerFields = compileHeaderFields(fields)
  return (value, record, partition, out) => {
    if (!isWritableText(value, record, partition, out, keepLineBreaks)) return
    const ms = kafkaTimestamp(record)
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
