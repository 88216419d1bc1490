import { isUtf8 } from 'node:buffer'
import type { BadRecord } from '../types.js'

/**
 * The error-output line of a bad record, one JSON object without a line terminator:
 * `{"offset":N,"partition":P,"timestamp":ms,"reason":"...","value":"<utf8 text>"}`, with `"valueBase64"`
 * instead when the bytes are not valid UTF-8, and `"value":null` for a tombstone. The original bytes are
 * embedded as a JSON string, so a message with line breaks or invalid JSON still yields exactly one line.
 */
export function errorLine (bad: BadRecord): Buffer {
  let line = `{"offset":${num(bad.offset)},"partition":${num(bad.partition)},"timestamp":${num(bad.timestamp)},"reason":${JSON.stringify(bad.reason)}`
  const value = bad.value
  if (value === null) line += ',"value":null}'
  else if (isUtf8(value)) line += `,"value":${JSON.stringify(value.toString())}}`
  else line += `,"valueBase64":"${value.toString('base64')}"}`
  return Buffer.from(line)
}

/** JSON has no NaN/Infinity; a broken number must not make the line invalid. */
function num (n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}
