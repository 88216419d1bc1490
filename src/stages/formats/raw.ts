import type { RawFraming } from '../../config/types.js'
import type { OutputGroup } from '../../types.js'
import { NO_REJECTS, type EncodedRecords, type GroupEncoder, type Rejected } from './format.js'

export const HAS_LINE_BREAK = 'value contains a line break: cannot be framed by newlines (use output.framing "length-prefixed")'

/**
 * The message bytes as they came (`raw ?? value`), framed: `newline` writes each followed by '\n' (a value
 * that contains '\n' goes to the error output instead: it would read back as two records); `length-prefixed`
 * writes a 4-byte big-endian length before each value, which frames any bytes.
 */
export function rawEncoder (framing: RawFraming): GroupEncoder {
  const lengthPrefixed = framing === 'length-prefixed'
  return {
    extension: lengthPrefixed ? '.bin' : '.txt',
    assembled: false,
    encode: (group: OutputGroup): EncodedRecords => {
      const { values, records } = group
      const bytes: Buffer[] = []
      let rejected: Rejected[] = NO_REJECTS
      let size = 0
      for (let i = 0; i < values.length; i++) {
        const value = records?.[i]?.raw ?? values[i] as Buffer
        if (!lengthPrefixed && value.includes(10)) {
          if (rejected === NO_REJECTS) rejected = []
          rejected.push({ index: i, reason: HAS_LINE_BREAK })
          continue
        }
        bytes.push(value)
        size += value.length + (lengthPrefixed ? 4 : 1)
      }
      const out = Buffer.allocUnsafe(size) // every byte is written below
      let pos = 0
      for (const value of bytes) {
        if (lengthPrefixed) pos = out.writeUInt32BE(value.length, pos)
        out.set(value, pos)
        pos += value.length
        if (!lengthPrefixed) out[pos++] = 10
      }
      return { data: out, rejected }
    }
  }
}
