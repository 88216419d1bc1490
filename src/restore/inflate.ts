import type { Transform } from 'node:stream'
import * as zlib from 'node:zlib'
import { ErrorCodes, SedimentError } from '../errors.js'

export type Codec = 'gzip' | 'zstd' | 'none'

/** node:zlib's streaming zstd decompressor: Node >= 22.15 / 23.8 only. */
const createZstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress

export const zstdAvailable = createZstd !== undefined

/** The codec of an archived object, from its key's last extension. */
export function codecOf (key: string): Codec {
  if (key.endsWith('.gz')) return 'gzip'
  if (key.endsWith('.zst')) return 'zstd'
  return 'none'
}

/**
 * A streaming decompressor, or undefined for `none`. Objects are concatenated gzip members / zstd frames (one
 * per chunk the sink compressed); both node:zlib decompressors read all members/frames of a stream.
 */
export function inflater (codec: Codec): Transform | undefined {
  switch (codec) {
    case 'gzip': return zlib.createGunzip({ chunkSize: 64 * 1024 })
    case 'zstd':
      if (createZstd === undefined) {
        throw new SedimentError(ErrorCodes.CONFIG, `restore: zstd objects need Node >= 22.15 (node:zlib zstd); this is Node ${process.versions.node}`)
      }
      return createZstd()
    case 'none': return undefined
  }
}
