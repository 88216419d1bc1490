/**
 * The interface of a custom parser or transformer module (`parser.module: ./my-parser.js`), exported from the
 * library so that a module can be type-checked:
 *
 *   import type { ParserModule } from 'sediment'
 *   export default {
 *     parse (message) {                       // parser.type: custom
 *       const [ts, level, text] = message.value.toString().split('|')
 *       if (level === 'TRACE') return null    // filtered out (counted, not written)
 *       return { timestamp: Number(ts), value: { level, text }, fields: { level } }
 *     }
 *   } satisfies ParserModule
 *
 * Both functions are synchronous and run once per record on the hot path; do asynchronous setup in `init`,
 * which the parse stage awaits once before its first batch. Throwing from `parse` or `transform` sends the
 * message (or record) to the error output with the error's message as the reason (`custom parser: ...`).
 */

/** The Kafka message a custom function sees. */
export interface ParserMessage {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: Buffer | null
  /** null for a tombstone; with `parser.split: lines`, one line of the message. */
  readonly value: Buffer | null
  /** Kafka record timestamp, ms since the epoch. */
  readonly timestamp: number
  readonly headers: Readonly<Record<string, Buffer | string | undefined>>
}

/** A record as a custom function returns it. */
export interface CustomRecord {
  /**
   * Event time: a number (seconds, ms, µs or ns by magnitude), a string (digits, ISO-8601, or matching
   * `parser.timestampFormat` when set), a bigint or a Date. Absent (undefined/null): `parser.fallback` decides
   * (default: error). In a transform result, absent means "unchanged".
   */
  timestamp?: number | string | bigint | Date | null
  /**
   * The record: an object is rendered as one JSON line (bigints as numbers when safe, else strings; bytes as
   * base64) and becomes the record's `doc`; a string or Buffer is written as is and must not contain a line
   * break. Absent: the message value (parse) or unchanged (transform).
   */
  value?: Record<string, unknown> | string | Buffer | Uint8Array
  /** Values for partition template tokens (numbers and booleans are converted to strings). */
  fields?: Record<string, string | number | boolean>
}

/** One parsed record as a transformer sees it. */
export interface TransformInput {
  readonly offset: number
  /** Event time, ms since the epoch. */
  timestamp: number
  /** The line the output writes. */
  value: Buffer
  /** The decoded record (json: parsed from `value` on first access), undefined for opaque values. */
  readonly doc: Record<string, unknown> | undefined
  fields: Record<string, string> | undefined
}

/**
 * type custom: decodes one message. Returns a record, several records (a multi-record message; all keep the
 * message's offset), or null / undefined / [] to filter the message out.
 */
export type CustomParse = (message: ParserMessage) => CustomRecord | CustomRecord[] | null | undefined

/**
 * Other types: called with every record the parser produced. Returns null to filter it out, undefined to keep it
 * unchanged, or a CustomRecord (the input itself, modified, is fine) whose set keys replace the record's.
 */
export type CustomTransform = (record: TransformInput, message: ParserMessage) => CustomRecord | null | undefined

export interface ParserModule {
  parse?: CustomParse
  transform?: CustomTransform
  /** Awaited once before the first batch (load a lookup table, open a connection). */
  init?: () => void | Promise<void>
}
