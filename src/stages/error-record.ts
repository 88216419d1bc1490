import { isUtf8 } from 'node:buffer'
import type { BadRecord } from '../types.js'

/**
 * Largest value embedded as JSON text. Escaping can grow text six-fold (`\u0000`), and the line is built as one
 * JS string, which V8 caps at ~512 Mi characters; 64 MiB × 6 stays well below. Larger values are embedded as
 * base64, assembled as bytes, so that no value is too large for the error output.
 */
const MAX_TEXT_VALUE_BYTES = 64 * 1024 * 1024
/** Base64 is produced in pieces of this many input bytes; a multiple of 3, so the pieces concatenate unpadded. */
const BASE64_CHUNK_BYTES = 3 * 1024 * 1024
const BASE64_TAIL = Buffer.from('"}')

/**
 * The error-output line of a bad record, one JSON object without a line terminator:
 * `{"offset":N,"partition":P,"timestamp":ms,"reason":"...","value":"<utf8 text>"}`, with `"valueBase64"`
 * instead when the bytes are not valid UTF-8 or longer than 64 MiB, and `"value":null` for a tombstone. The
 * original bytes are embedded whole (also for a message too large to parse), as a JSON string, so a message
 * with line breaks or invalid JSON still yields exactly one line. Linear in the value's size.
 */
export function errorLine (bad: BadRecord): Buffer {
  const head = `{"offset":${num(bad.offset)},"partition":${num(bad.partition)},"timestamp":${num(bad.timestamp)},"reason":${JSON.stringify(bad.reason)}`
  const value = bad.value
  if (value === null) return Buffer.from(`${head},"value":null}`)
  if (value.length <= MAX_TEXT_VALUE_BYTES && isUtf8(value)) return Buffer.from(`${head},"value":${JSON.stringify(value.toString())}}`)
  if (value.length <= BASE64_CHUNK_BYTES) return Buffer.from(`${head},"valueBase64":"${value.toString('base64')}"}`)
  const parts = [Buffer.from(`${head},"valueBase64":"`)]
  for (let i = 0; i < value.length; i += BASE64_CHUNK_BYTES) {
    parts.push(Buffer.from(value.toString('base64', i, Math.min(i + BASE64_CHUNK_BYTES, value.length)), 'latin1'))
  }
  parts.push(BASE64_TAIL)
  return Buffer.concat(parts)
}

/** JSON has no NaN/Infinity; a broken number must not make the line invalid. */
function num (n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}
