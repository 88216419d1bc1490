import type { Transform } from 'node:stream'
import * as zlib from 'node:zlib'
import { ErrorCodes, SedimentError } from '../errors.js'
import { ZstdFramesDecompress } from '../stages/formats/zstd-frames.js'

export type Codec = 'gzip' | 'zstd' | 'none'

/** node:zlib's zstd: Node >= 22.15 / 23.8 only. */
export const zstdAvailable = 'zstdDecompress' in zlib

/** The codec of an archived object, from its key's last extension. */
export function codecOf (key: string): Codec {
  if (key.endsWith('.gz')) return 'gzip'
  if (key.endsWith('.zst')) return 'zstd'
  return 'none'
}

/**
 * A streaming decompressor, or undefined for `none`. Objects are concatenated gzip members / zstd frames (one
 * per chunk the sink compressed). node:zlib's gunzip reads every member; its zstd decompressor stops after the
 * first frame, so zstd frames are split and inflated one by one.
 */
export function inflater (codec: Codec): Transform | undefined {
  switch (codec) {
    case 'gzip': return zlib.createGunzip({ chunkSize: 64 * 1024 })
    case 'zstd':
      if (!zstdAvailable) {
        throw new SedimentError(ErrorCodes.CONFIG, `restore: zstd objects need Node >= 22.15 (node:zlib zstd); this is Node ${process.versions.node}`)
      }
      return new ZstdFramesDecompress()
    case 'none': return undefined
  }
}
