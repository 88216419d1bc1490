import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig
} from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { ConfigError, ErrorCodes, FencedError, SedimentError } from '../errors.js'
import type { ObjectStore, UploadedPart } from './object-store.js'
import { checkS3Access, s3WriteParams, withS3Access, type S3AccessOptions, type S3WriteParams } from './s3-access.js'

export interface S3StoreOptions {
  bucket: string
  region?: string
  endpoint?: string
  forcePathStyle?: boolean
  /** Omit to use the AWS default credential chain (env, profile, IMDS/IRSA...). */
  credentials?: { accessKeyId: string, secretAccessKey: string, sessionToken?: string }
  /** SDK attempts per request (the SDK retries 5xx/SlowDown/network errors with backoff and jitter). */
  maxAttempts?: number
  /** A request whose connection is silent this long fails and is retried (default 30 s). */
  socketTimeoutMs?: number
  /**
   * Flexible checksums (CRC32 of every request body, validated by S3; response checksums validated when S3 sends
   * them). 'when-supported' (default, the SDK's default): every part and object carries a CRC32 that S3 checks
   * end to end. 'when-required': only where an operation requires one. Measured with bench/s3-client.ts: on
   * Node ≥ 20.15 / 22.2 the SDK computes CRC32 with the native zlib.crc32 and the difference is small; on older
   * Node it runs in JavaScript (~20 ms of main thread per 8 MiB part).
   */
  checksum?: S3ChecksumMode
  /** Concurrent connections to S3 (keep-alive sockets; default 50, the SDK's). */
  maxSockets?: number
  /** An existing client to share; the store then does not destroy it on close. */
  client?: S3Client
  /** Encryption, storage class, tags, ACL on writes; an assumed role (not with `client`). See s3-access.ts. */
  access?: S3AccessOptions
}

export const S3ChecksumModes = ['when-supported', 'when-required'] as const
export type S3ChecksumMode = typeof S3ChecksumModes[number]

/** The client configuration S3Store uses for `options` (validated here, beside the client they configure). */
export function s3ClientConfig (options: Omit<S3StoreOptions, 'client'>): S3ClientConfig {
  const checksum = options.checksum ?? 'when-supported'
  if (!(S3ChecksumModes as readonly string[]).includes(checksum)) {
    throw new ConfigError('checksum', `must be one of ${S3ChecksumModes.join(', ')}, got ${String(checksum)}`)
  }
  const maxSockets = options.maxSockets ?? 50
  if (!Number.isInteger(maxSockets) || maxSockets < 1) throw new ConfigError('maxSockets', `must be an integer >= 1, got ${String(maxSockets)}`)
  const mode = checksum === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED'
  const config: S3ClientConfig = {
    region: options.region ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? false,
    maxAttempts: options.maxAttempts ?? 5,
    requestChecksumCalculation: mode,
    responseChecksumValidation: mode,
    // Without timeouts, one request that never gets an answer would hold its partition's cut forever. Keep-alive:
    // a new connection per request costs the client ~as much CPU as the request itself (bench/s3-client.ts).
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 10_000,
      socketTimeout: options.socketTimeoutMs ?? 30_000,
      httpAgent: { keepAlive: true, maxSockets },
      httpsAgent: { keepAlive: true, maxSockets }
    })
  }
  if (options.endpoint !== undefined) config.endpoint = options.endpoint
  if (options.credentials !== undefined) config.credentials = { ...options.credentials }
  return config
}

/**
 * S3 through the AWS SDK v3 multipart commands. We drive CreateMultipartUpload/UploadPart/Complete ourselves
 * instead of lib-storage's `Upload`: `Upload.done()` completes the object as soon as its parts are in, and
 * switches small bodies to a single PutObject, so it cannot hold an upload open until the Kafka commit (the
 * point of no return in our protocol, see commit-protocol.ts). We keep the part ETags ourselves.
 */
export class S3Store implements ObjectStore {
  readonly location: string
  readonly #client: S3Client
  readonly #ownsClient: boolean
  readonly #bucket: string
  readonly #write: { data: S3WriteParams, small: S3WriteParams }

  constructor (options: S3StoreOptions) {
    this.#bucket = options.bucket
    checkS3Access(options.access)
    if (options.client !== undefined && options.access?.assumeRole !== undefined) throw new ConfigError('access.assumeRole', 'not with a shared client (its credentials are fixed); give the role to that client')
    this.#write = s3WriteParams(options.access)
    this.location = `s3://${options.bucket}`
    if (options.client !== undefined) {
      this.#client = options.client
      this.#ownsClient = false
    } else {
      this.#client = new S3Client(withS3Access(s3ClientConfig(options), options.access))
      this.#ownsClient = true
    }
  }

  async createUpload (key: string): Promise<string> {
    const out = await this.#send(`create upload ${key}`, async () => await this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: key, ...this.#write.data })))
    if (out.UploadId === undefined) throw new SedimentError(ErrorCodes.UPLOAD, `no UploadId returned for ${key}`)
    return out.UploadId
  }

  async uploadPart (key: string, uploadId: string, partNumber: number, body: Buffer): Promise<UploadedPart> {
    const out = await this.#send(`upload part ${partNumber} of ${key}`, async () => {
      try {
        return await this.#client.send(new UploadPartCommand({
          Bucket: this.#bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length
        }))
      } catch (err) {
        // Someone aborted our upload: a new owner of the partition sweeping what it did not start. We are fenced.
        if (errorName(err) === 'NoSuchUpload') throw new FencedError(`upload of ${key} was aborted by another writer`, { cause: err })
        throw err
      }
    })
    if (out.ETag === undefined) throw new SedimentError(ErrorCodes.UPLOAD, `no ETag returned for part ${partNumber} of ${key}`)
    return { partNumber, etag: out.ETag }
  }

  async completeUpload (key: string, uploadId: string, parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'> {
    try {
      await this.#client.send(new CompleteMultipartUploadCommand({
        Bucket: this.#bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) }
      }))
      return 'completed'
    } catch (err) {
      if (errorName(err) === 'NoSuchUpload') return 'no-such-upload'
      throw wrap(err, `complete ${key}`)
    }
  }

  async abortUpload (key: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }))
    } catch (err) {
      if (errorName(err) === 'NoSuchUpload') return
      throw wrap(err, `abort ${key}`)
    }
  }

  async put (key: string, body: Buffer, contentType = 'application/json'): Promise<void> {
    await this.#send(`put ${key}`, async () => await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, ContentType: contentType, ...this.#write.small })))
  }

  async get (key: string): Promise<Buffer | null> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }))
      if (out.Body === undefined) return Buffer.alloc(0)
      return Buffer.from(await out.Body.transformToByteArray())
    } catch (err) {
      if (errorName(err) === 'NoSuchKey' || httpStatus(err) === 404) return null
      throw wrap(err, `get ${key}`)
    }
  }

  async size (key: string): Promise<number | null> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }))
      return out.ContentLength ?? 0
    } catch (err) {
      if (errorName(err) === 'NotFound' || httpStatus(err) === 404) return null
      throw wrap(err, `head ${key}`)
    }
  }

  async delete (key: string): Promise<void> {
    await this.#send(`delete ${key}`, async () => await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key })))
  }

  async * list (prefix: string, startAfter?: string): AsyncIterable<{ key: string, size: number, lastModified?: number }> {
    let token: string | undefined
    do {
      const out = await this.#send(`list ${prefix}`, async () => await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token, StartAfter: token === undefined ? startAfter : undefined })))
      for (const o of out.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0, ...(o.LastModified !== undefined ? { lastModified: o.LastModified.getTime() } : {}) }
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined
    } while (token !== undefined)
  }

  async * listUploads (prefix: string): AsyncIterable<{ key: string, uploadId: string }> {
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    for (;;) {
      const out = await this.#send(`list uploads ${prefix}`, async () => await this.#client.send(new ListMultipartUploadsCommand({
        Bucket: this.#bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker
      })))
      for (const u of out.Uploads ?? []) {
        if (u.Key !== undefined && u.UploadId !== undefined) yield { key: u.Key, uploadId: u.UploadId }
      }
      if (out.IsTruncated !== true) return
      keyMarker = out.NextKeyMarker
      uploadIdMarker = out.NextUploadIdMarker
    }
  }

  async close (): Promise<void> {
    if (this.#ownsClient) this.#client.destroy()
  }

  async #send<T> (what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request()
    } catch (err) {
      if (err instanceof FencedError) throw err
      throw wrap(err, what)
    }
  }
}

function errorName (err: unknown): string | undefined {
  return (err as { name?: string, Code?: string } | null)?.name ?? (err as { Code?: string } | null)?.Code
}

function httpStatus (err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
}

function wrap (err: unknown, what: string): SedimentError {
  const name = errorName(err) ?? 'Error'
  const message = err instanceof Error ? err.message : String(err)
  return new SedimentError(ErrorCodes.STORE, `S3 ${what} failed: ${name}: ${message}`, { cause: err })
}
