/**
 * zstd frame boundaries (RFC 8878). The zstd codec writes one frame per compressed chunk, so an object is many
 * concatenated frames; node:zlib's zstd decompressor (Node 22 and 24) stops after the first frame, so readers
 * (restore, tests) find each frame and inflate it on its own.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { zstdDecompress } from 'node:zlib'

const ZSTD_MAGIC = 0xfd2fb528

/**
 * Where the frame (or skippable frame) starting at `pos` ends, or undefined while `buf` does not hold all of its
 * headers yet. Throws on bytes that are not a frame.
 */
export function zstdFrameEnd (buf: Buffer, pos: number): { end: number, skippable: boolean } | undefined {
  if (buf.length - pos < 8) return undefined
  const magic = buf.readUInt32LE(pos)
  if ((magic & 0xfffffff0) === 0x184d2a50) return { end: pos + 8 + buf.readUInt32LE(pos + 4), skippable: true }
  if (magic !== ZSTD_MAGIC) throw new Error(`not a zstd frame at byte ${pos}`)
  const descriptor = buf[pos + 4] as number
  const singleSegment = (descriptor >> 5) & 1
  const contentSizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6] as number
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3] as number
  let p = pos + 5 + (singleSegment === 1 ? 0 : 1) + dictIdBytes + contentSizeBytes
  for (let last = 0; last === 0;) {
    if (p + 3 > buf.length) return undefined
    const header = buf.readUIntLE(p, 3)
    last = header & 1
    const type = (header >> 1) & 3
    p += 3 + (type === 1 ? 1 : header >> 3) // an RLE block carries one byte
  }
  if (((descriptor >> 2) & 1) === 1) p += 4 // content checksum
  return { end: p, skippable: false }
}

/** A stream of concatenated zstd frames in, their decompressed bytes out, one frame at a time (backpressure held). */
export class ZstdFramesDecompress extends Transform {
  #pending: Buffer = Buffer.alloc(0)

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    this.#drain().then(() => { callback() }, callback)
  }

  override _flush (callback: TransformCallback): void {
    if (this.#pending.length > 0) callback(new Error(`truncated zstd frame (${this.#pending.length} bytes left)`))
    else callback()
  }

  async #drain (): Promise<void> {
    let pos = 0
    for (;;) {
      const frame = zstdFrameEnd(this.#pending, pos)
      if (frame === undefined || frame.end > this.#pending.length) break
      if (!frame.skippable) {
        const out = await new Promise<Buffer>((resolve, reject) => {
          zstdDecompress(this.#pending.subarray(pos, frame.end), (err, result) => { if (err === null) resolve(result); else reject(err) })
        })
        this.push(out)
      }
      pos = frame.end
    }
    this.#pending = this.#pending.subarray(pos)
  }
}
