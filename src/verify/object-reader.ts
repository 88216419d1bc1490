/**
 * Streaming reads for checksums. ObjectStore.get buffers a whole object (it is meant for small intents and
 * manifests), and data objects can be 100 MB, so verify hashes them as a stream straight from the bucket or
 * the directory of the configured sink. Kept here rather than in the stores: only verify reads data back.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import type { SedimentConfig } from '../config/types.js'
import { ErrorCodes, SedimentError, errorMessage } from '../errors.js'
import type { ObjectStore } from '../sinks/object-store.js'
import { azureStoreFor } from '../sinks/azure-store.js'
import { pickS3Access, withS3Access } from '../sinks/s3-access.js'

export interface ObjectDigest {
  /** sha256 of the content, hex. */
  sha256: string
  bytes: number
}

export interface ObjectReader {
  /** Hashes an object's content, or resolves null when the object does not exist. */
  digest: (key: string) => Promise<ObjectDigest | null>
  close: () => Promise<void>
}

/** A streaming reader for the config's sink (s3 or file). */
export function objectReaderFor (config: SedimentConfig): ObjectReader {
  const s = config.sink
  if (s.type === 'file') return new FileReader(s.directory as string)
  if (s.type === 'azure') {
    const store = azureStoreFor(s)
    return {
      digest: async (key) => { const body = await store.read(key); return body === null ? null : await hashStream(body) },
      close: async () => { await store.close() }
    }
  }
  const options: S3ClientConfig = { region: s.region, forcePathStyle: s.forcePathStyle, maxAttempts: 5 }
  if (s.endpoint !== undefined) options.endpoint = s.endpoint
  if (s.credentials !== undefined) options.credentials = { ...s.credentials }
  // The role the sink writes with can read back what it wrote.
  return new S3Reader(new S3Client(withS3Access(options, pickS3Access(s))), s.bucket as string)
}

/** Reads through ObjectStore.get (whole objects in memory): for stores that were not built from a config. */
export function storeReader (store: ObjectStore): ObjectReader {
  return {
    digest: async (key) => {
      const body = await store.get(key)
      return body === null ? null : { sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length }
    },
    close: async () => {}
  }
}

async function hashStream (chunks: AsyncIterable<Uint8Array | string>): Promise<ObjectDigest> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of chunks) {
    hash.update(chunk)
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength
  }
  return { sha256: hash.digest('hex'), bytes }
}

class FileReader implements ObjectReader {
  readonly #root: string

  constructor (root: string) {
    this.#root = root
  }

  async digest (key: string): Promise<ObjectDigest | null> {
    // The same key rule as FileStore: a manifest must not make us read outside the directory.
    if (key.split('/').some((s) => s === '..' || s === '')) {
      throw new SedimentError(ErrorCodes.STORE, `invalid object key "${key}"`)
    }
    try {
      return await hashStream(createReadStream(join(this.#root, ...key.split('/'))))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new SedimentError(ErrorCodes.STORE, `file store: read ${key} failed: ${errorMessage(err)}`, { cause: err })
    }
  }

  async close (): Promise<void> {}
}

class S3Reader implements ObjectReader {
  readonly #client: S3Client
  readonly #bucket: string

  constructor (client: S3Client, bucket: string) {
    this.#client = client
    this.#bucket = bucket
  }

  async digest (key: string): Promise<ObjectDigest | null> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }))
      if (out.Body === undefined) return { sha256: createHash('sha256').digest('hex'), bytes: 0 }
      // In Node the body is an http.IncomingMessage: an async iterable of Buffers.
      return await hashStream(out.Body as AsyncIterable<Uint8Array>)
    } catch (err) {
      const e = err as { name?: string, $metadata?: { httpStatusCode?: number } }
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null
      throw new SedimentError(ErrorCodes.STORE, `S3 get ${key} failed: ${e.name ?? 'Error'}: ${errorMessage(err)}`, { cause: err })
    }
  }

  async close (): Promise<void> {
    this.#client.destroy()
  }
}
