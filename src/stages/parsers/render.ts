/**
 * Decoded binary records (MessagePack, Protobuf, Avro, custom objects) → plain JSON data, the record's `doc`,
 * and its one-line JSON rendering, the record's `value`. The rules, the same for every format:
 *
 * - 64-bit integers (bigint, Long): a JSON number when it is a safe integer (|n| <= 2^53 - 1), else a string
 *   of its decimal digits, so no digit is ever rounded away;
 * - bytes (Buffer, Uint8Array): a base64 string;
 * - Date: an ISO-8601 string (UTC, milliseconds); an invalid Date: null;
 * - NaN, Infinity, -Infinity: the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers; the same
 *   choice as protobuf's JSON mapping);
 * - Map: an object (keys as strings); Set: an array;
 * - undefined members are left out, as JSON.stringify does; functions and symbols likewise;
 * - other objects (Avro records, protobuf messages): their own enumerable properties.
 *
 * Protobuf enums are rendered as their names and Avro unions unwrapped by the decoders (see protobuf.ts, avro.ts).
 * JSON.stringify escapes control characters, so the rendering never contains a raw line break.
 */

const MAX_DEPTH = 512

/** Plain JSON data for `value`; throws (caught by the parser: a bad record) on nesting deeper than 512. */
export function toPlain (value: unknown, depth = 0): unknown {
  switch (typeof value) {
    case 'string': case 'boolean': return value
    case 'number': return Number.isFinite(value) ? value : String(value)
    case 'bigint': return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value.toString()
    case 'undefined': case 'function': case 'symbol': return undefined
    default: break
  }
  if (typeof value !== 'object' || value === null) return null
  if (depth > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`)
  if (Array.isArray(value)) return value.map(item => toPlain(item, depth + 1) ?? null)
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (isLong(value)) return longToPlain(value)
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of value) setOwn(out, String(k), toPlain(v, depth + 1))
    return out
  }
  if (value instanceof Set) return [...value].map(item => toPlain(item, depth + 1) ?? null)
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) setOwn(out, key, toPlain((value as Record<string, unknown>)[key], depth + 1))
  return out
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** A data key named "__proto__" must stay data. */
function setOwn (out: Record<string, unknown>, key: string, value: unknown): void {
  if (value === undefined) return
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  else out[key] = value
}

interface LongLike { low: number, high: number, unsigned: boolean }

function isLong (value: object): value is LongLike {
  const v = value as Partial<LongLike>
  return typeof v.low === 'number' && typeof v.high === 'number' && typeof v.unsigned === 'boolean' && Object.keys(value).length === 3
}

function longToPlain (long: LongLike): number | string {
  const n = (BigInt(long.high >>> 0) << 32n) | BigInt(long.low >>> 0)
  const signed = long.unsigned ? n : BigInt.asIntN(64, n)
  return signed >= -MAX_SAFE && signed <= MAX_SAFE ? Number(signed) : signed.toString()
}

/** The record's doc and its JSON line. */
export function renderDoc (decoded: Record<string, unknown>): { doc: Record<string, unknown>, value: Buffer } {
  const doc = toPlain(decoded) as Record<string, unknown>
  return { doc, value: Buffer.from(JSON.stringify(doc)) }
}
