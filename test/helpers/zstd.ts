import { zstdDecompressSync } from 'node:zlib'
import { zstdFrameEnd } from '../../src/stages/formats/zstd-frames.js'

/** Decompresses a file of concatenated zstd frames (what the zstd codec writes: one frame per chunk). */
export function zstdDecompressFrames (file: Buffer): Buffer {
  const out: Buffer[] = []
  for (let pos = 0; pos < file.length;) {
    const frame = zstdFrameEnd(file, pos)
    if (frame === undefined || frame.end > file.length) throw new Error(`truncated zstd frame at byte ${pos}`)
    if (!frame.skippable) out.push(zstdDecompressSync(file.subarray(pos, frame.end)))
    pos = frame.end
  }
  return Buffer.concat(out)
}
