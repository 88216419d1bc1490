import { ErrorCodes, SedimentError } from '../errors.js'

/** One archived record as it goes back to Kafka. Fields the archive does not carry are absent. */
export interface RestoredRecord {
  value: Buffer
  key?: Buffer | null
  headers?: Record<string, Buffer | Buffer[]>
  /** Kafka timestamp (ms) */
  timestamp?: number
  /** Source offset and partition (wrap only). */
  offset?: number
  partition?: number
}

export type RecordDecoder = (bytes: Buffer) => RestoredRecord

/** Plain JSON lines and raw framing: the bytes are the message value, nothing else is known. */
export const plainRecord: RecordDecoder = (bytes) => ({ value: bytes })

const VALUE_KEY = Buffer.from('"value":')

/**
 * A `wrap` JSON line: `{"offset":O,"partition":P,"key":K,"timestamp":T,"headers":{...},"value":<record>}`
 * (src/stages/formats/jsonl.ts). The writer spliced the record's bytes in after `"value":`, so they are taken back
 * byte for byte (JSON.parse + stringify would change spacing and number spelling); only the head is parsed.
 */
export const wrappedRecord: RecordDecoder = (line) => {
  const start = valueStart(line)
  if (start < 0 || line[line.length - 1] !== 0x7d) throw badLine(line, 'no "value" field last')
  let head: { offset?: unknown, partition?: unknown, key?: unknown, timestamp?: unknown, headers?: unknown }
  try {
    head = JSON.parse(`${line.toString('utf8', 0, start)}null}`)
  } catch (err) {
    throw badLine(line, (err as Error).message)
  }
  const record: RestoredRecord = { value: line.subarray(start, line.length - 1) }
  if (typeof head.offset === 'number') record.offset = head.offset
  if (typeof head.partition === 'number') record.partition = head.partition
  if (head.key === null || typeof head.key === 'string') record.key = head.key === null ? null : bytesOf(head.key)
  if (typeof head.timestamp === 'number') record.timestamp = head.timestamp
  if (typeof head.headers === 'object' && head.headers !== null) {
    const headers: Record<string, Buffer | Buffer[]> = {}
    for (const [name, v] of Object.entries(head.headers as Record<string, unknown>)) {
      headers[name] = Array.isArray(v) ? v.map((x) => bytesOf(String(x))) : bytesOf(String(v))
    }
    record.headers = headers
  }
  return record
}

/**
 * Inverse of kafka-meta.ts bytesText: `base64:` marks bytes that were not valid UTF-8. (A UTF-8 key that itself
 * starts with `base64:` is ambiguous in the archive; it is read as base64, as the writer would have marked it.)
 */
function bytesOf (text: string): Buffer {
  return text.startsWith('base64:') ? Buffer.from(text.slice(7), 'base64') : Buffer.from(text, 'utf8')
}

/**
 * Index just after the top-level `"value":` key. Walks the head only (key, headers) and stops there, skipping
 * strings so that a key or header containing `"value":` cannot mislead it.
 */
function valueStart (line: Buffer): number {
  let depth = 0
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === 0x22) { // '"'
      if (depth === 1 && i + VALUE_KEY.length <= line.length && line.compare(VALUE_KEY, 0, VALUE_KEY.length, i, i + VALUE_KEY.length) === 0) return i + VALUE_KEY.length
      for (i++; i < line.length && line[i] !== 0x22; i++) if (line[i] === 0x5c) i++
    } else if (c === 0x7b || c === 0x5b) {
      depth++
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return -1
}

function badLine (line: Buffer, why: string): SedimentError {
  const sample = line.toString('utf8', 0, Math.min(line.length, 120))
  return new SedimentError(ErrorCodes.PARSE, `restore: not a wrapped JSON line (${why}): ${sample}`)
}
