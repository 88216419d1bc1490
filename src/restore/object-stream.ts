/**
 * Streaming reads of data objects (ObjectStore.get buffers whole objects and is meant for small ones). Like
 * src/verify/object-reader.ts, built from the config's sink, so restore reads what the service wrote.
 */
import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import type { SinkConfig } from '../config/types.js'
import { ErrorCodes, SedimentError, errorMessage } from '../errors.js'

export interface ObjectOpener {
  /** The object's bytes as a stream (throws when it is absent). */
  open: (key: string) => Promise<Readable>
  close: () => Promise<void>
}

export function objectOpener (sink: SinkConfig): ObjectOpener {
  if (sink.type === 'file') {
    const root = sink.directory as string
    return {
      open: async (key) => {
        if (key.split('/').some((s) => s === '..' || s === '')) throw new SedimentError(ErrorCodes.STORE, `invalid object key "${key}"`)
        return createReadStream(join(root, ...key.split('/')), { highWaterMark: 256 * 1024 })
      },
      close: async () => {}
    }
  }
  const options: S3ClientConfig = { region: sink.region, forcePathStyle: sink.forcePathStyle, maxAttempts: 5 }
  if (sink.endpoint !== undefined) options.endpoint = sink.endpoint
  if (sink.credentials !== undefined) options.credentials = { ...sink.credentials }
  const client = new S3Client(options)
  return {
    open: async (key) => {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: sink.bucket as string, Key: key }))
        // In Node the body is an http.IncomingMessage (a Readable).
        return out.Body as Readable
      } catch (err) {
        throw new SedimentError(ErrorCodes.STORE, `S3 get ${key} failed: ${errorMessage(err)}`, { cause: err })
      }
    },
    close: async () => { client.destroy() }
  }
}
