import { isUtf8 } from 'node:buffer'
import type { KafkaRecord, ParsedRecord } from '../../types.js'

/**
 * The Kafka metadata `output.wrap` adds to each record. Keys and header values are bytes in Kafka; they are
 * written as UTF-8 text when they are valid UTF-8 (the usual case), otherwise as `base64:` followed by their
 * base64, so nothing is lost and the common case stays readable.
 */
export interface KafkaMeta {
  offset: number
  partition: number
  key: string | null
  /** Kafka record timestamp (ms), null when the record does not carry its Kafka message. */
  timestamp: number | null
  /** Header name → value as JSON text of an object (`{}` when there are none). */
  headersJson: string
}

export function kafkaMeta (record: ParsedRecord | undefined, offset: number, partition: number): KafkaMeta {
  const kafka = record?.kafka
  return {
    offset,
    partition,
    key: kafka?.key == null ? null : bytesText(kafka.key),
    timestamp: kafka === undefined || !Number.isFinite(kafka.timestamp) ? null : kafka.timestamp,
    headersJson: kafka === undefined ? '{}' : headersJson(kafka.headers)
  }
}

export function bytesText (bytes: Buffer | string): string {
  if (typeof bytes === 'string') return bytes
  return isUtf8(bytes) ? bytes.toString('utf8') : `base64:${bytes.toString('base64')}`
}

/** Repeated headers (kafkajs gives an array) become an array of values. */
export function headersJson (headers: KafkaRecord['headers'] | undefined): string {
  if (headers === undefined) return '{}'
  let out = ''
  for (const name of Object.keys(headers)) {
    const value = headers[name] as Buffer | string | Array<Buffer | string> | undefined
    if (value === undefined) continue
    const rendered = Array.isArray(value) ? value.map(bytesText) : bytesText(value)
    out += `${out === '' ? '' : ','}${JSON.stringify(name)}:${JSON.stringify(rendered)}`
  }
  return `{${out}}`
}

/**
 * The record as an object for formats that pick fields (csv, parquet): the parser's decoded `doc`, or the JSON
 * `value` parsed. Undefined when the value is not a JSON object (such a record cannot be written as columns).
 */
export function recordDoc (record: ParsedRecord | undefined, value: Buffer): Record<string, unknown> | undefined {
  const doc = record?.doc
  if (doc !== undefined) return doc
  let parsed: unknown
  try {
    parsed = JSON.parse(value.toString('utf8'))
  } catch {
    return undefined
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as Record<string, unknown> : undefined
}
