import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BadRecord, ParsedRecord } from '../../src/types.js'
import { jsonRecordParser } from '../../src/stages/parse.js'
import { JsonFieldScanner, ScanResult } from '../../src/stages/json-scan.js'
import { record } from './helpers.js'

let seed = 12345
function rand (n: number): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return Math.floor((seed / 2 ** 31) * n)
}
function pick<T> (items: readonly T[]): T {
  return items[rand(items.length)] as T
}

const KEYS = ['ts', 'meta', 'a', 'b', 'c', 'x', 't\\u0073', 'é', '__proto__', 'constructor', '']
const TIMESTAMPS = [
  '1795158900000', '1795158900', '1795158900.5', '-5', '0', '-0', '1e12', '1.7951589E9', '179515890000000000',
  '"2026-11-20T07:15:00Z"', '"2026-11-20"', '"1795158900"', '"soon"', '"2026-02-30"', '"2026-11-20T07:15:00\\u005a"',
  'null', 'true', 'false', '[]', '{}', '[1795158900]', '{"ts": 1}', '"é"', '12345678901234567890'
]

/** A random JSON text (as a string built by hand so keys, escapes and numbers appear verbatim). */
function value (depth: number): string {
  switch (rand(depth > 3 ? 4 : 7)) {
    case 0: return pick(TIMESTAMPS)
    case 1: return String(rand(1e6) - 5e5)
    case 2: return JSON.stringify(pick(['', 'abc', 'line\nbreak', 'q"uote', 'ü€😀', '\\']))
    case 3: return pick(['true', 'false', 'null'])
    case 4: case 5: return object(depth + 1)
    default: return `[${Array.from({ length: rand(4) }, () => value(depth + 1)).join(',')}]`
  }
}

function object (depth: number): string {
  const members = Array.from({ length: rand(5) }, () => `"${pick(KEYS)}":${value(depth)}`)
  return `{${members.join(',')}}`
}

function whitespace (text: string): string {
  // Sprinkle whitespace (including CR/LF) between tokens the cheap way: after structural characters outside strings.
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    out += c
    if (c === '"' && text[i - 1] !== '\\') inString = !inString
    if (!inString && ',:{}['.includes(c) && rand(3) === 0) out += pick([' ', '\n', '\r\n', '\t', '  \n  '])
  }
  return out
}

function mutate (bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes)
  switch (rand(6)) {
    case 0: return copy.subarray(0, rand(copy.length + 1)) // truncated
    case 1: if (copy.length > 0) copy[rand(copy.length)] = pick([0x22, 0x5c, 0x2c, 0x7d, 0x5d, 0x3a, 0x30, 0x2d, 0x20, 0xff, 0xc3, 0x00, 0x09, 0x0a, 0x1f, 0x65, 0x2e]); return copy
    case 2: { const at = rand(copy.length + 1); return Buffer.concat([copy.subarray(0, at), Buffer.from(pick(['"', ',', '}', ']', '{', '[', 'e', '.', '-', '0', '01', '\\', 'tru', '\u0001', '\u00e9'])), copy.subarray(at)]) }
    case 3: { const at = rand(copy.length); return Buffer.concat([copy.subarray(0, at), copy.subarray(at + 1)]) }
    case 4: return Buffer.concat([copy, Buffer.from(pick([' ', 'x', '}', '\n', ',{}']))])
    default: return Buffer.concat([Buffer.from(pick([' ', '\ufeff', '[', '"'])), copy])
  }
}

function parseWith (fast: boolean, field: string, bytes: Buffer): { good: ParsedRecord[], bad: BadRecord[] } {
  const good: ParsedRecord[] = []
  const bad: BadRecord[] = []
  jsonRecordParser(field, fast)(record(1, bytes), 0, good, bad)
  return { good, bad }
}

test('the scanner fast path agrees with JSON.parse on random and mutated documents', () => {
  let fastDecided = 0
  let total = 0
  for (const field of ['ts', 'meta.ts', 'a.b.c', 'constructor', '__proto__']) {
    const fastParser = jsonRecordParser(field, true)
    const slowParser = jsonRecordParser(field, false)
    const scanner = new JsonFieldScanner(field.split('.'))
    for (let i = 0; i < 6000; i++) {
      let text = object(0)
      if (field.includes('.') && rand(2) === 0) text = `{"${field.split('.')[0]}":${text}${rand(2) === 0 ? `,"x":1` : ''}}`
      if (rand(2) === 0) text = `{"${field.split('.').pop()}":${pick(TIMESTAMPS)},${text.slice(1)}`.replace(',}', '}')
      if (rand(2) === 0) text = whitespace(text)
      let bytes: Buffer = Buffer.from(text)
      if (rand(3) === 0) bytes = mutate(bytes)
      const fast = { good: [] as ParsedRecord[], bad: [] as BadRecord[] }
      const slow = { good: [] as ParsedRecord[], bad: [] as BadRecord[] }
      fastParser(record(1, bytes), 0, fast.good, fast.bad)
      slowParser(record(1, bytes), 0, slow.good, slow.bad)
      assert.deepEqual(fast, slow, `${field}: ${JSON.stringify(bytes.toString('latin1'))}`)
      total++
      if (scanner.scan(bytes) !== ScanResult.UNSURE) fastDecided++
    }
  }
  assert.ok(fastDecided > total / 4, `the fast path decided ${fastDecided} of ${total}`)
})

test('scanner: duplicate keys, nesting, escapes', () => {
  const cases: Array<[string, string]> = [
    ['{"ts":1,"ts":2}', 'ts'],
    ['{"meta":{"ts":1},"meta":{"x":2}}', 'meta.ts'],
    ['{"meta":{"ts":1},"meta":5}', 'meta.ts'],
    ['{"meta":{"x":{"ts":9}},"y":{"ts":8},"meta2":{"ts":7}}', 'meta.ts'],
    ['{"a":[{"ts":1}],"ts":"2026-11-20"}', 'ts'],
    ['{"t\\u0073":1795158900}', 'ts'],
    ['{"ts":"2026-11-20T07:15:00\\u005A"}', 'ts'],
    ['{"ts":1795158900}  \r\n', 'ts'],
    ['{"ts":01}', 'ts'],
    ['{"ts":1.}', 'ts'],
    ['{"ts":1,}', 'ts'],
    ['{"ts":1}{}', 'ts'],
    ['{"é":1,"ts":2}', 'ts'],
    ['{"items":[1,2],"ts":3}', 'items.0'],
    [`${'['.repeat(200)}${']'.repeat(200)}`, 'ts'],
    [`{"a":${'{"a":'.repeat(150)}1${'}'.repeat(150)},"ts":5}`, 'ts']
  ]
  for (const [text, field] of cases) {
    assert.deepEqual(parseWith(true, field, Buffer.from(text)), parseWith(false, field, Buffer.from(text)), text)
  }
  assert.equal(parseWith(true, 'ts', Buffer.from('{"ts":1,"ts":2}')).good[0]?.timestampMs, 2000)
})
