import * as zlib from 'node:zlib'

/** Codecs a chunk of a text or raw file is compressed with; every chunk is one gzip member or one zstd frame. */
export type ChunkCodec = 'gzip' | 'zstd' | 'none'

export type CompressDone = (err: Error | null, data: Buffer) => void

export interface ChunkCompressor {
  /** `.gz`, `.zst` or empty. */
  readonly extension: string
  /** True when `compress` finishes later (libuv thread pool, worker thread); false when it calls back before returning. */
  readonly async: boolean
  /** `input` may be handed over to another thread (detached): do not use it after this call. */
  compress (input: Buffer, done: CompressDone): void
}

export const ZSTD_DEFAULT_LEVEL = 3

const zstdOptions = (level: number): zlib.ZstdOptions => ({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level } })

/**
 * A compressor for self-contained chunks. Concatenated gzip members and concatenated zstd frames are each one
 * valid file, so the sink appends chunks without per-file compressor state.
 */
export function chunkCompressor (codec: ChunkCodec, level?: number): ChunkCompressor {
  switch (codec) {
    case 'gzip': return gzipCompressor(level ?? zlib.constants.Z_DEFAULT_COMPRESSION)
    case 'zstd': return zstdCompressor(level ?? ZSTD_DEFAULT_LEVEL)
    case 'none': return { extension: '', async: false, compress: (input, done) => { done(null, input) } }
  }
}

function gzipCompressor (level: number): ChunkCompressor {
  return {
    extension: '.gz',
    async: true,
    compress: (input, done) => {
      // zlib.gzip makes one thread-pool round trip per filled output chunk; sizing the chunk to about half the
      // input (JSON compresses far better than 2:1) makes that a single trip. Node concatenates the output into
      // an exact-size buffer, so the oversized chunk is not retained.
      const chunkSize = Math.min(Math.max(input.length >>> 1, 16 * 1024), 8 * 1024 * 1024)
      zlib.gzip(input, { level, chunkSize }, done)
    }
  }
}

/** node:zlib's zstd (Node >= 22.15, the engines floor) runs in libuv's thread pool, beside parsing. */
function zstdCompressor (level: number): ChunkCompressor {
  const options = zstdOptions(level)
  return { extension: '.zst', async: true, compress: (input, done) => { zlib.zstdCompress(input, options, done) } }
}

/** A synchronous zstd compressor (one complete frame per call), used for Parquet pages. */
export function zstdSync (level: number): (input: Buffer) => Buffer {
  const options = zstdOptions(level)
  return (input) => zlib.zstdCompressSync(input, options)
}
