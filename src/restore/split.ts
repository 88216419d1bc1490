import { Transform, type TransformCallback } from 'node:stream'
import { ErrorCodes, SedimentError } from '../errors.js'

/** How an archived object separates its records (see src/stages/formats/). */
export type Framing = 'newline' | 'length-prefixed'

/** Default limit on one record's size: a missing separator must not make a splitter buffer a whole object. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024

/**
 * Bytes in, batches of records out (object mode, one `Buffer[]` per input chunk that completed any record), so
 * the stages after it move batches, not single records. A record split across chunks is kept as pieces and
 * joined once when it completes. Backpressure is the Transform's own: push() results are left to the stream
 * machinery, which stops calling _transform while the readable side is full.
 */
export function recordSplitter (framing: Framing, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES): Transform {
  return framing === 'newline' ? new LineSplitter(maxRecordBytes) : new LengthPrefixSplitter(maxRecordBytes)
}

function tooLarge (bytes: number, max: number): SedimentError {
  return new SedimentError(ErrorCodes.PARSE, `restore: a record exceeds ${max} bytes (${bytes} so far); wrong framing or a corrupt object?`)
}

/** '\n'-terminated records; a final record without '\n' is emitted too (empty lines are skipped: no format writes them). */
class LineSplitter extends Transform {
  readonly #max: number
  #pieces: Buffer[] = []
  #pending = 0

  constructor (max: number) {
    super({ readableObjectMode: true, readableHighWaterMark: 4 })
    this.#max = max
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const out: Buffer[] = []
    let start = 0
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      let line = chunk.subarray(start, nl)
      if (this.#pending > 0) {
        this.#pieces.push(line)
        line = Buffer.concat(this.#pieces, this.#pending + line.length)
        this.#pieces = []
        this.#pending = 0
      }
      if (line.length > 0) out.push(line)
      start = nl + 1
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start)
      this.#pieces.push(rest)
      this.#pending += rest.length
      if (this.#pending > this.#max) { done(tooLarge(this.#pending, this.#max)); return }
    }
    if (out.length > 0) this.push(out)
    done()
  }

  override _flush (done: TransformCallback): void {
    if (this.#pending > 0) this.push([Buffer.concat(this.#pieces, this.#pending)])
    this.#pieces = []
    done()
  }
}

/** A 4-byte big-endian length before each record (output.framing "length-prefixed"). */
class LengthPrefixSplitter extends Transform {
  readonly #max: number
  #buf: Buffer = Buffer.alloc(0)

  constructor (max: number) {
    super({ readableObjectMode: true, readableHighWaterMark: 4 })
    this.#max = max
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // At most one partial record is carried over, so the concat copies each byte at most once more.
    const buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    const out: Buffer[] = []
    let pos = 0
    while (buf.length - pos >= 4) {
      const size = buf.readUInt32BE(pos)
      if (size > this.#max) { done(tooLarge(size, this.#max)); return }
      if (buf.length - pos - 4 < size) break
      out.push(buf.subarray(pos + 4, pos + 4 + size))
      pos += 4 + size
    }
    // Copy the remainder: holding a subarray would pin the whole chunk.
    this.#buf = pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos))
    if (out.length > 0) this.push(out)
    done()
  }

  override _flush (done: TransformCallback): void {
    if (this.#buf.length > 0) {
      done(new SedimentError(ErrorCodes.PARSE, `restore: object ends inside a length-prefixed record (${this.#buf.length} bytes left over)`))
      return
    }
    done()
  }
}
