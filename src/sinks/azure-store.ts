/**
 * Azure Blob Storage as an ObjectStore (block blobs), the five protocol steps mapped like S3 multipart:
 *
 * - createUpload draws a random upload id; nothing is written yet.
 * - uploadPart is Put Block: a block staged under the blob's name stays invisible until a block list commits it.
 *   Block ids are base64(`<upload id>:<part number, 5 digits>`): fixed length (Azure requires one length per
 *   blob), and two writers of the same key (a new owner re-reading a cut a dead one staged) never mix blocks.
 * - completeUpload is Put Block List of exactly this upload's blocks, with If-None-Match: * so that nothing visible
 *   is ever replaced. `no-such-upload` when the blocks are gone (another writer's commit of this blob discarded
 *   them: InvalidBlockList) or the blob already exists (someone completed it first; the caller checks `size`).
 * - abortUpload: Azure has no call that drops uncommitted blocks without committing the blob, so it does nothing;
 *   staged blocks are discarded by Azure after 7 days (or by the next commit of that blob).
 * - listUploads: blobs that exist only uncommitted (List Blobs with include=uncommittedblobs, minus the committed
 *   ones), one entry per upload id found in each one's uncommitted block list.
 *
 * `sink.type: azure` in the service (see README "Connecting").
 */
import { randomBytes } from 'node:crypto'
import { ContainerClient, RestError } from '@azure/storage-blob'
import { ErrorCodes, SedimentError } from '../errors.js'
import type { ObjectStore, UploadedPart } from './object-store.js'
import type { SinkConfig } from '../config/types.js'

export interface AzureStoreOptions {
  /** A container client (connection string, SAS URL or a TokenCredential such as @azure/identity's DefaultAzureCredential). */
  container: ContainerClient
}

const MAX_PARTS = 50_000 // Azure's limit of committed blocks per blob

export class AzureStore implements ObjectStore {
  readonly location: string
  readonly #c: ContainerClient

  constructor (options: AzureStoreOptions) {
    this.#c = options.container
    this.location = `azure://${this.#c.accountName}/${this.#c.containerName}`
  }

  /** From a connection string (Azurite, account keys) and a container name. */
  static fromConnectionString (connectionString: string, container: string): AzureStore {
    return new AzureStore({ container: new ContainerClient(connectionString, container) })
  }

  async createUpload (_key: string): Promise<string> {
    return randomBytes(8).toString('hex')
  }

  async uploadPart (key: string, uploadId: string, partNumber: number, body: Buffer): Promise<UploadedPart> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) throw new SedimentError(ErrorCodes.UPLOAD, `part number ${partNumber} out of 1..${MAX_PARTS}`)
    const blockId = blockIdOf(uploadId, partNumber)
    await this.#call(`put block ${partNumber} of ${key}`, async () => await this.#c.getBlockBlobClient(key).stageBlock(blockId, body, body.length))
    return { partNumber, etag: blockId }
  }

  async completeUpload (key: string, uploadId: string, parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'> {
    const ids = [...parts].sort((a, b) => a.partNumber - b.partNumber).map(p => {
      if (p.etag !== blockIdOf(uploadId, p.partNumber)) throw new SedimentError(ErrorCodes.UPLOAD, `part ${p.partNumber} of ${key} is not of upload ${uploadId}`)
      return p.etag
    })
    try {
      await this.#c.getBlockBlobClient(key).commitBlockList(ids, { conditions: { ifNoneMatch: '*' } })
      return 'completed'
    } catch (err) {
      const code = errorCode(err)
      if (code === 'InvalidBlockList' || code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || status(err) === 409) return 'no-such-upload'
      throw wrap(err, `put block list of ${key}`)
    }
  }

  async abortUpload (_key: string, _uploadId: string): Promise<void> {
    // Nothing to do: see the file comment.
  }

  async put (key: string, body: Buffer, contentType = 'application/json'): Promise<void> {
    await this.#call(`put ${key}`, async () => await this.#c.getBlockBlobClient(key).upload(body, body.length, { blobHTTPHeaders: { blobContentType: contentType } }))
  }

  async get (key: string): Promise<Buffer | null> {
    try {
      return await this.#c.getBlockBlobClient(key).downloadToBuffer()
    } catch (err) {
      if (status(err) === 404) return null
      throw wrap(err, `get ${key}`)
    }
  }

  /** An object's bytes as a stream, or null when absent (verify hashes data objects without holding them). */
  async read (key: string): Promise<AsyncIterable<Uint8Array> | null> {
    try {
      const res = await this.#c.getBlockBlobClient(key).download()
      return (res.readableStreamBody ?? (async function * () {})()) as AsyncIterable<Uint8Array>
    } catch (err) {
      if (status(err) === 404) return null
      throw wrap(err, `get ${key}`)
    }
  }

  async size (key: string): Promise<number | null> {
    try {
      return (await this.#c.getBlockBlobClient(key).getProperties()).contentLength ?? 0
    } catch (err) {
      if (status(err) === 404) return null
      throw wrap(err, `get properties of ${key}`)
    }
  }

  async delete (key: string): Promise<void> {
    await this.#call(`delete ${key}`, async () => await this.#c.getBlockBlobClient(key).deleteIfExists())
  }

  async * list (prefix: string, startAfter?: string): AsyncIterable<{ key: string, size: number, lastModified?: number }> {
    // Azure lists in key order but has no start-after; skip up to it (callers pass keys of the same prefix).
    for await (const b of this.#c.listBlobsFlat({ prefix })) {
      if (startAfter !== undefined && b.name <= startAfter) continue
      yield { key: b.name, size: b.properties.contentLength ?? 0, lastModified: b.properties.lastModified.getTime() }
    }
  }

  async * listUploads (prefix: string): AsyncIterable<{ key: string, uploadId: string }> {
    const committed = new Set<string>()
    for await (const b of this.#c.listBlobsFlat({ prefix })) committed.add(b.name)
    for await (const b of this.#c.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) {
      if (committed.has(b.name)) continue
      let list
      try {
        list = await this.#c.getBlockBlobClient(b.name).getBlockList('uncommitted')
      } catch (err) {
        if (status(err) === 404) continue // committed or expired meanwhile
        throw wrap(err, `get block list of ${b.name}`)
      }
      const ids = new Set<string>()
      for (const block of list.uncommittedBlocks ?? []) {
        const id = uploadIdOf(block.name)
        if (id !== undefined) ids.add(id)
      }
      for (const uploadId of [...ids].sort()) yield { key: b.name, uploadId }
    }
  }

  async close (): Promise<void> {}

  async #call<T> (what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request()
    } catch (err) {
      throw wrap(err, what)
    }
  }
}

/** The store for a validated `sink.type: azure` config. */
export function azureStoreFor (sink: Pick<SinkConfig, 'container' | 'connectionString' | 'containerUrl'>): AzureStore {
  return new AzureStore({
    container: sink.connectionString !== undefined
      ? new ContainerClient(sink.connectionString, sink.container as string)
      : new ContainerClient(sink.containerUrl as string)
  })
}

export function blockIdOf (uploadId: string, partNumber: number): string {
  return Buffer.from(`${uploadId}:${String(partNumber).padStart(5, '0')}`).toString('base64')
}

function uploadIdOf (blockId: string): string | undefined {
  const m = /^([0-9a-f]{16}):\d{5}$/.exec(Buffer.from(blockId, 'base64').toString('utf8'))
  return m?.[1]
}

function status (err: unknown): number | undefined {
  return err instanceof RestError ? err.statusCode : (err as { statusCode?: number } | null)?.statusCode
}

function errorCode (err: unknown): string | undefined {
  return (err as { code?: string, details?: { errorCode?: string } } | null)?.details?.errorCode ?? (err as { code?: string } | null)?.code
}

function wrap (err: unknown, what: string): SedimentError {
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err)
  return new SedimentError(ErrorCodes.STORE, `Azure ${what} failed: ${errorCode(err) ?? 'Error'}: ${message ?? ''}`, { cause: err })
}
