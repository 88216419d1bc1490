import type { BadRecord } from '../../types.js'
import { Reasons, badRecord, type ValueParser } from './common.js'

/**
 * `split: lines` — a message value holding several newline-delimited records (NDJSON, a batch of log lines).
 * Each line goes through `inner` on its own, so each record gets its own event time (and directory); all keep
 * the message's offset and `kafka`. LF separates lines, a CR before it is dropped; blank lines (only spaces or
 * tabs) are skipped. A bad line becomes an error record holding that line, its reason prefixed `line N: `;
 * the other lines are unaffected. A message with no record at all is one error record.
 *
 * split2 (the design's pick for line splitting) is a stream Transform: it buffers chunks of a byte stream and
 * emits decoded strings asynchronously. Here each message is already one whole Buffer inside a synchronous
 * per-batch loop; `indexOf(10)` and `subarray` give zero-copy Buffer slices with no stream, no string decoding
 * and no per-message allocation beyond the slices, so split2 is not used.
 */
export function splitLines (inner: ValueParser): ValueParser {
  return (value, record, partition, out) => {
    if (value === null) {
      out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
      return
    }
    const good0 = out.good.length
    const bad0 = out.bad.length
    const filtered0 = out.filtered
    let lineNo = 0
    for (let start = 0; start <= value.length;) {
      const lf = value.indexOf(10, start)
      const stop = lf === -1 ? value.length : lf
      let end = stop
      if (end > start && value[end - 1] === 13) end--
      lineNo++
      if (!blank(value, start, end)) {
        const bad = out.bad.length
        inner(value.subarray(start, end), record, partition, out)
        for (let k = bad; k < out.bad.length; k++) {
          const b = out.bad[k] as BadRecord
          b.reason = `line ${lineNo}: ${b.reason}`
        }
      }
      if (lf === -1) break
      start = lf + 1
    }
    if (out.good.length === good0 && out.bad.length === bad0 && out.filtered === filtered0) {
      out.bad.push(badRecord(record, partition, value.length === 0 ? Reasons.EMPTY : Reasons.NO_RECORDS, value))
    }
  }
}

function blank (buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i]
    if (c !== 32 && c !== 9) return false
  }
  return true
}
