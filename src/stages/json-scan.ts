/**
 * A validating, allocation-free JSON scanner over bytes that locates one field (a dotted path) without building
 * the document. JSON.parse builds every object, string and number of the message only for us to read one field
 * and throw the rest away; on ~200-byte messages that is about 1.5 µs each, the whole throughput budget.
 *
 * The scanner is an optimisation, not a second source of truth: it answers FOUND / MISSING only when it is
 * certain the message is a valid JSON object and what JSON.parse + an own-property lookup would give. Anything
 * else (invalid JSON, a non-object top level, non-ASCII text that needs UTF-8 validation failing, escapes in a
 * relevant key or in a string timestamp, a path through an array, very deep nesting) yields UNSURE and the
 * caller takes the JSON.parse path, which also produces the exact error messages. A differential fuzz test
 * checks that both paths agree.
 */

import { isUtf8 } from 'node:buffer'

export const ScanResult = {
  /** Valid JSON object; the field is at valueStart..valueEnd (see valueKind). */
  FOUND: 0,
  /** Valid JSON object without the field. */
  MISSING: 1,
  /** Anything else: decide with JSON.parse. */
  UNSURE: 2
} as const
export type ScanResult = (typeof ScanResult)[keyof typeof ScanResult]

export const ValueKind = {
  /** A JSON number; valueStart..valueEnd is its text. */
  NUMBER: 0,
  /** A JSON string without escapes; valueStart..valueEnd is its content between the quotes. */
  STRING: 1
} as const
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind]

const MAX_DEPTH = 128

const OBJECT = 1
const ARRAY = 2

// Modes of the state machine.
const M_KEY_OR_END = 0 // after '{'
const M_KEY = 1 // after ',' in an object
const M_VALUE_OR_END = 2 // after '['
const M_VALUE = 3 // after ':' or ',' in an array
const M_AFTER_VALUE = 4

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const COMMA = 0x2c
const LBRACE = 0x7b
const RBRACE = 0x7d
const LBRACKET = 0x5b
const RBRACKET = 0x5d
const MINUS = 0x2d
const D0 = 0x30
const D9 = 0x39
const LF = 0x0a
const CR = 0x0d

/** Escape characters allowed after a backslash: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPE = new Uint8Array(256)
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1
/** Byte classes inside a string: 0 plain ASCII, 1 quote, 2 backslash, 3 control (invalid), 4 non-ASCII. */
const STRING_CLASS = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) STRING_CLASS[c] = 3
STRING_CLASS[QUOTE] = 1
STRING_CLASS[BACKSLASH] = 2
for (let c = 0x80; c < 0x100; c++) STRING_CLASS[c] = 4
const HEX = new Uint8Array(256)
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1

export class JsonFieldScanner {
  readonly #path: Buffer[]
  readonly #stack = new Uint8Array(MAX_DEPTH + 1)

  /** Results of the last scan (fields, not a result object: no allocation per message). */
  valueStart = 0
  valueEnd = 0
  valueKind: ValueKind = ValueKind.NUMBER
  /** The message contains CR or LF bytes (necessarily insignificant whitespace when valid). */
  lineBreak = false

  // Per-scan string state, set by #string.
  #stringEscaped = false
  #stringHigh = 0

  constructor (path: readonly string[]) {
    this.#path = path.map(segment => Buffer.from(segment))
  }

  scan (buf: Buffer): ScanResult {
    const n = buf.length
    const path = this.#path
    const stack = this.#stack
    let lineBreak = false
    let high = 0
    let i = 0
    let depth = 0
    /** Containers at depths 1..onPath are the chain the path leads through. */
    let onPath = 0
    /** The key just read matched path[level - 1] for the on-path container at depth `level` (0: no match). */
    let matchedLevel = 0
    let found = false
    let mode: number = M_VALUE

    // The top level must be an object; anything else is rare and decided by JSON.parse.
    while (i < n) {
      const c = buf[i] as number
      if (c === 0x20 || c === 0x09) i++
      else if (c === LF || c === CR) { lineBreak = true; i++ } else break
    }
    if (i >= n || buf[i] !== LBRACE) return ScanResult.UNSURE

    for (;;) {
      // Skip whitespace.
      let c = 0
      while (i < n) {
        c = buf[i] as number
        if (c === 0x20 || c === 0x09) i++
        else if (c === LF || c === CR) { lineBreak = true; i++ } else break
      }
      if (i >= n) {
        if (mode === M_AFTER_VALUE && depth === 0) break
        return ScanResult.UNSURE // truncated
      }
      if (mode === M_AFTER_VALUE) {
        if (depth === 0) return ScanResult.UNSURE // trailing garbage
        const container = stack[depth]
        if (c === COMMA) {
          mode = container === OBJECT ? M_KEY : M_VALUE
          i++
        } else if (c === RBRACE && container === OBJECT) {
          if (onPath === depth) onPath--
          depth--
          i++
        } else if (c === RBRACKET && container === ARRAY) {
          depth--
          i++
        } else {
          return ScanResult.UNSURE
        }
        continue
      }
      if (mode === M_KEY_OR_END || mode === M_KEY) {
        if (c === RBRACE && mode === M_KEY_OR_END) {
          if (onPath === depth) onPath--
          depth--
          i++
          mode = M_AFTER_VALUE
          continue
        }
        if (c !== QUOTE) return ScanResult.UNSURE
        const keyStart = i + 1
        i = this.#string(buf, i)
        if (i < 0) return ScanResult.UNSURE
        high |= this.#stringHigh
        matchedLevel = 0
        if (onPath === depth && depth <= path.length) {
          if (this.#stringEscaped) return ScanResult.UNSURE // the key might spell a path segment with escapes
          const segment = path[depth - 1] as Buffer
          const keyLength = i - 1 - keyStart
          if (keyLength === segment.length && buf.compare(segment, 0, keyLength, keyStart, i - 1) === 0) {
            matchedLevel = depth
            found = false // a repeated key replaces the earlier value (JSON.parse: last one wins)
          }
        }
        while (i < n && ((buf[i] as number) === 0x20 || buf[i] === 0x09 || buf[i] === LF || buf[i] === CR)) {
          if (buf[i] !== 0x20 && buf[i] !== 0x09) lineBreak = true
          i++
        }
        if (i >= n || buf[i] !== COLON) return ScanResult.UNSURE
        i++
        mode = M_VALUE
        continue
      }
      if (mode === M_VALUE_OR_END && c === RBRACKET) {
        depth--
        i++
        mode = M_AFTER_VALUE
        continue
      }

      // A value.
      const level = matchedLevel
      matchedLevel = 0
      const isTarget = level !== 0 && level === path.length
      if (c === LBRACE || c === LBRACKET) {
        if (isTarget) return ScanResult.UNSURE // an object/array timestamp: JSON.parse path words the reason
        if (depth === MAX_DEPTH) return ScanResult.UNSURE
        depth++
        if (c === LBRACE) {
          stack[depth] = OBJECT
          if (level !== 0 || depth === 1) onPath = depth
          mode = M_KEY_OR_END
        } else {
          if (level !== 0) return ScanResult.UNSURE // path through an array: own-property lookup semantics
          stack[depth] = ARRAY
          mode = M_VALUE_OR_END
        }
        i++
        continue
      }
      if (c === QUOTE) {
        const start = i + 1
        i = this.#string(buf, i)
        if (i < 0) return ScanResult.UNSURE
        high |= this.#stringHigh
        if (isTarget) {
          if (this.#stringEscaped) return ScanResult.UNSURE
          found = true
          this.valueKind = ValueKind.STRING
          this.valueStart = start
          this.valueEnd = i - 1
        }
      } else if (c === MINUS || (c >= D0 && c <= D9)) {
        const start = i
        i = number(buf, i)
        if (i < 0) return ScanResult.UNSURE
        if (isTarget) {
          found = true
          this.valueKind = ValueKind.NUMBER
          this.valueStart = start
          this.valueEnd = i
        }
      } else {
        // true / false / null
        if (isTarget) return ScanResult.UNSURE // not a timestamp; JSON.parse path words the reason
        if (c === 0x74) i = literal(buf, i, TRUE)
        else if (c === 0x66) i = literal(buf, i, FALSE)
        else if (c === 0x6e) i = literal(buf, i, NULL)
        else return ScanResult.UNSURE
        if (i < 0) return ScanResult.UNSURE
      }
      mode = M_AFTER_VALUE
    }

    // Non-ASCII bytes only occur inside strings here; they must form valid UTF-8 (else: the UTF-8 reason).
    if ((high & 0x80) !== 0 && !isUtf8(buf)) return ScanResult.UNSURE
    this.lineBreak = lineBreak
    return found ? ScanResult.FOUND : ScanResult.MISSING
  }

  /** Scans a string starting at the opening quote; returns the index after the closing quote or -1. */
  #string (buf: Buffer, i: number): number {
    let escaped = false
    let high = 0
    i++
    for (;;) {
      // Plain ASCII is by far the most common: one table load per byte. Past the end buf[i] is undefined,
      // whose class is undefined as well, so the bounds check happens only once the run ends.
      while (STRING_CLASS[buf[i] as number] === 0) i++
      const cls = STRING_CLASS[buf[i] as number]
      if (cls === 1) break
      if (cls === 4) {
        high = 0x80
        i++
      } else if (cls === 2) {
        escaped = true
        const e = buf[i + 1] as number
        if (SIMPLE_ESCAPE[e] === 1) {
          i += 2
        } else if (e === 0x75 && HEX[buf[i + 2] as number] === 1 && HEX[buf[i + 3] as number] === 1 &&
          HEX[buf[i + 4] as number] === 1 && HEX[buf[i + 5] as number] === 1) { // \uXXXX
          i += 6
        } else {
          return -1
        }
      } else {
        return -1 // a raw control character (not allowed in JSON strings) or the end of the input
      }
    }
    this.#stringEscaped = escaped
    this.#stringHigh = high
    return i + 1
  }
}

/** JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? Returns the index after it or -1. */
function number (buf: Buffer, i: number): number {
  const n = buf.length
  if (buf[i] === MINUS) i++
  if (i >= n) return -1
  let c = buf[i] as number
  if (c === D0) {
    i++
  } else if (c > D0 && c <= D9) {
    i++
    while (i < n && (c = buf[i] as number) >= D0 && c <= D9) i++
  } else {
    return -1
  }
  if (i < n && buf[i] === 0x2e) { // '.'
    i++
    const start = i
    while (i < n && (c = buf[i] as number) >= D0 && c <= D9) i++
    if (i === start) return -1
  }
  if (i < n && (buf[i] === 0x65 || buf[i] === 0x45)) { // e E
    i++
    if (i < n && (buf[i] === 0x2b || buf[i] === MINUS)) i++
    const start = i
    while (i < n && (c = buf[i] as number) >= D0 && c <= D9) i++
    if (i === start) return -1
  }
  return i
}

const TRUE = Buffer.from('true')
const FALSE = Buffer.from('false')
const NULL = Buffer.from('null')

function literal (buf: Buffer, i: number, word: Buffer): number {
  for (let k = 0; k < word.length; k++) if (buf[i + k] !== word[k]) return -1
  return i + word.length
}

/** The value of a JSON number's text (as scanned) at buf[start..end). */
export function numberAt (buf: Buffer, start: number, end: number): number {
  // Plain non-negative integers up to 15 digits (every ms/s timestamp) without creating a string.
  if (end - start <= 15) {
    let v = 0
    for (let i = start; i < end; i++) {
      const c = buf[i] as number
      if (c < D0 || c > D9) return Number(buf.toString('latin1', start, end))
      v = v * 10 + (c - D0)
    }
    return v
  }
  return Number(buf.toString('latin1', start, end))
}
