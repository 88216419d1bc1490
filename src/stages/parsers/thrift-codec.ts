/**
 * A schema-less Thrift struct reader for the TBinaryProtocol and TCompactProtocol encodings of one struct (what
 * Thrift's TSerializer writes, and what Secor's ThriftMessageParser reads). Without an IDL, fields are named by
 * their ids: the struct `{1: i64 ts, 2: {1: string id}}` decodes to `{ "1": 1405970352000n, "2": { "1": "..." } }`,
 * so a timestamp is found by a dotted path of field ids (`2.1`). Binary values are strings when valid UTF-8,
 * else bytes; i64 are bigints; maps become objects keyed by the key's text.
 */
import { isUtf8 } from 'node:buffer'

export type ThriftProtocol = 'binary' | 'compact'
export const ThriftProtocols: readonly ThriftProtocol[] = ['binary', 'compact']

export type ThriftValue = boolean | number | bigint | string | Buffer | ThriftValue[] | { [id: string]: ThriftValue }

/** Nesting deeper than this is refused (a corrupt length could otherwise recurse without end). */
const MAX_DEPTH = 64

class ThriftError extends Error {}

/** Decodes one struct that fills `bytes` exactly; throws Error with the reason. */
export function decodeThriftStruct (bytes: Buffer, protocol: ThriftProtocol): Record<string, ThriftValue> {
  const reader = protocol === 'binary' ? new BinaryReader(bytes) : new CompactReader(bytes)
  const out = reader.struct(0)
  if (reader.pos !== bytes.length) throw new ThriftError(`${bytes.length - reader.pos} bytes after the struct`)
  return out
}

abstract class Reader {
  pos = 0
  constructor (readonly buf: Buffer) {}

  need (n: number): number {
    if (n < 0 || this.pos + n > this.buf.length) throw new ThriftError(`truncated at byte ${this.pos} (needs ${n} more)`)
    const at = this.pos
    this.pos += n
    return at
  }

  u8 (): number { return this.buf[this.need(1)] as number }

  bytes (n: number): ThriftValue {
    const at = this.need(n)
    const b = this.buf.subarray(at, at + n)
    return isUtf8(b) ? b.toString('utf8') : Buffer.from(b)
  }

  /** Collection sizes are bounded by the bytes left (every element takes at least one byte, except bools in binary). */
  size (n: number): number {
    if (n < 0 || n > this.buf.length - this.pos) throw new ThriftError(`collection size ${n} at byte ${this.pos} exceeds the message`)
    return n
  }

  abstract struct (depth: number): Record<string, ThriftValue>
}

// TBinaryProtocol type ids
const B_STOP = 0; const B_BOOL = 2; const B_BYTE = 3; const B_DOUBLE = 4; const B_I16 = 6; const B_I32 = 8; const B_I64 = 10
const B_STRING = 11; const B_STRUCT = 12; const B_MAP = 13; const B_SET = 14; const B_LIST = 15; const B_UUID = 16

class BinaryReader extends Reader {
  struct (depth: number): Record<string, ThriftValue> {
    if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep')
    const out: Record<string, ThriftValue> = {}
    for (;;) {
      const type = this.u8()
      if (type === B_STOP) return out
      const id = this.buf.readInt16BE(this.need(2))
      out[String(id)] = this.value(type, depth)
    }
  }

  value (type: number, depth: number): ThriftValue {
    switch (type) {
      case B_BOOL: return this.u8() !== 0
      case B_BYTE: return this.buf.readInt8(this.need(1))
      case B_DOUBLE: return this.buf.readDoubleBE(this.need(8))
      case B_I16: return this.buf.readInt16BE(this.need(2))
      case B_I32: return this.buf.readInt32BE(this.need(4))
      case B_I64: return this.buf.readBigInt64BE(this.need(8))
      case B_STRING: return this.bytes(this.buf.readInt32BE(this.need(4)))
      case B_UUID: return this.buf.subarray(this.need(16), this.pos).toString('hex')
      case B_STRUCT: return this.struct(depth + 1)
      case B_MAP: {
        const kt = this.u8(); const vt = this.u8()
        const n = this.size(this.buf.readInt32BE(this.need(4)))
        const out: Record<string, ThriftValue> = {}
        for (let i = 0; i < n; i++) {
          const k = this.value(kt, depth + 1)
          out[String(k)] = this.value(vt, depth + 1)
        }
        return out
      }
      case B_SET: case B_LIST: {
        const et = this.u8()
        const n = this.size(this.buf.readInt32BE(this.need(4)))
        const out: ThriftValue[] = []
        for (let i = 0; i < n; i++) out.push(this.value(et, depth + 1))
        return out
      }
      default: throw new ThriftError(`unknown binary type ${type} at byte ${this.pos - 1}`)
    }
  }
}

// TCompactProtocol type ids
const C_STOP = 0; const C_TRUE = 1; const C_FALSE = 2; const C_BYTE = 3; const C_I16 = 4; const C_I32 = 5; const C_I64 = 6
const C_DOUBLE = 7; const C_BINARY = 8; const C_LIST = 9; const C_SET = 10; const C_MAP = 11; const C_STRUCT = 12; const C_UUID = 13

class CompactReader extends Reader {
  struct (depth: number): Record<string, ThriftValue> {
    if (depth > MAX_DEPTH) throw new ThriftError('nesting too deep')
    const out: Record<string, ThriftValue> = {}
    let last = 0 // field ids are deltas from the previous field of the same struct
    for (;;) {
      const header = this.u8()
      const type = header & 0x0f
      if (type === C_STOP) return out
      const delta = header >> 4
      const id = delta === 0 ? this.zigzag32() : last + delta
      last = id
      out[String(id)] = type === C_TRUE ? true : type === C_FALSE ? false : this.value(type, depth)
    }
  }

  value (type: number, depth: number): ThriftValue {
    switch (type) {
      case C_TRUE: case C_FALSE: return this.u8() === 1 // inside collections a bool is one byte, 1 = true
      case C_BYTE: return this.buf.readInt8(this.need(1))
      case C_I16: case C_I32: return this.zigzag32()
      case C_I64: return this.zigzag64()
      case C_DOUBLE: return this.buf.readDoubleLE(this.need(8))
      case C_BINARY: return this.bytes(this.varint32())
      case C_UUID: return this.buf.subarray(this.need(16), this.pos).toString('hex')
      case C_STRUCT: return this.struct(depth + 1)
      case C_LIST: case C_SET: {
        const header = this.u8()
        const n = this.size((header >> 4) === 15 ? this.varint32() : header >> 4)
        const et = header & 0x0f
        const out: ThriftValue[] = []
        for (let i = 0; i < n; i++) out.push(this.value(et, depth + 1))
        return out
      }
      case C_MAP: {
        const n = this.size(this.varint32())
        const out: Record<string, ThriftValue> = {}
        if (n === 0) return out
        const types = this.u8()
        for (let i = 0; i < n; i++) {
          const k = this.value(types >> 4, depth + 1)
          out[String(k)] = this.value(types & 0x0f, depth + 1)
        }
        return out
      }
      default: throw new ThriftError(`unknown compact type ${type} at byte ${this.pos - 1}`)
    }
  }

  varint32 (): number {
    let v = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.u8()
      v |= (b & 0x7f) << shift
      if ((b & 0x80) === 0) return v >>> 0
    }
    throw new ThriftError(`varint too long at byte ${this.pos}`)
  }

  zigzag32 (): number {
    const v = this.varint32()
    return (v >>> 1) ^ -(v & 1)
  }

  zigzag64 (): bigint {
    let v = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.u8()
      v |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return BigInt.asIntN(64, (v >> 1n) ^ -(v & 1n))
    }
    throw new ThriftError(`varint too long at byte ${this.pos}`)
  }
}
