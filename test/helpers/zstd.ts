import { zstdDecompressSync } from 'node:zlib'

/**
 * Decompresses a file of concatenated zstd frames (what the zstd codec writes: one frame per chunk). node:zlib's
 * zstd decompressor stops after the first frame (Node 22 and 24), so each frame is found and inflated on its own.
 * Frame layout (RFC 8878): magic, header, blocks of 3-byte headers (bit 0 last, bits 1-2 type, bits 3+ size; an
 * RLE block carries one byte), optional 4-byte checksum. Skippable frames are skipped.
 */
export function zstdDecompressFrames (file: Buffer): Buffer {
  const out: Buffer[] = []
  for (let pos = 0; pos < file.length;) {
    const magic = file.readUInt32LE(pos)
    if ((magic & 0xfffffff0) === 0x184d2a50) { pos += 8 + file.readUInt32LE(pos + 4); continue }
    if (magic !== 0xfd2fb528) throw new Error(`not a zstd frame at byte ${pos}`)
    const descriptor = file[pos + 4] as number
    const singleSegment = (descriptor >> 5) & 1
    const contentSizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6] as number
    const dictIdBytes = [0, 1, 2, 4][descriptor & 3] as number
    let p = pos + 5 + (singleSegment === 1 ? 0 : 1) + dictIdBytes + contentSizeBytes
    for (let last = 0; last === 0;) {
      const header = file.readUIntLE(p, 3)
      last = header & 1
      const type = (header >> 1) & 3
      p += 3 + (type === 1 ? 1 : header >> 3)
    }
    if ((descriptor >> 2) & 1) p += 4
    out.push(zstdDecompressSync(file.subarray(pos, p)))
    pos = p
  }
  return Buffer.concat(out)
}
