import { Reasons, badRecord, hasLineBreak, kafkaTimestamp, type ValueParser } from './common.js'
import { compileHeaderFields, type FieldSpec } from './fields.js'

/**
 * The `kafka-timestamp` parser: any bytes, event time = the Kafka record timestamp. `fields` name Kafka headers
 * (the value is opaque here).
 */
export function kafkaTimestampParser (fields: readonly FieldSpec[] = []): ValueParser {
  const headerFields = compileHeaderFields(fields)
  return (value, record, partition, out) => {
    if (value === null) {
      out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
      return
    }
    // Output is line-framed and the bytes are opaque here (not necessarily JSON), so a line break cannot be
    // repaired without changing the payload: such a message goes to the error output instead. CR counts too,
    // because many line readers split on it.
    if (hasLineBreak(value)) {
      out.bad.push(badRecord(record, partition, Reasons.LINE_BREAK, value))
      return
    }
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
