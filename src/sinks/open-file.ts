import { createHash, type Hash } from 'node:crypto'
import { crashPoint } from '../crash-points.js'
import type { EncodedGroup, FileBuilder } from '../types.js'
import type { UploadedPart } from './object-store.js'
import type { CutFile } from './layout.js'

/**
 * Memory one open file costs beyond its data bytes: the OpenFile object, its SHA-256 context (native, outside the
 * V8 heap), part bookkeeping and the sink's map entry, then its upload and manifest entry at the cut. Measured
 * ≈ 0.75 KiB of heap and ≈ 1.3 KiB resident per file with 100k open files; rounded up. The sink counts it
 * against maxBufferedBytes so that many small files cannot hide outside the budget.
 */
export const FILE_OVERHEAD_BYTES = 2048

/** How an OpenFile gets its parts into the store; owned by the sink (concurrency limit, retries, fencing). */
export interface PartUploader {
  /**
   * `owner.epoch`: the assignment epoch the file belongs to, read at each retry (a file carried over into a new
   * epoch moves with it); retries stop once it is over.
   */
  createUpload (key: string, owner: { readonly epoch: number, uploadIdKnown: string | undefined }): Promise<string>
  uploadPart (key: string, uploadId: string, partNumber: number, body: Buffer, owner: { readonly epoch: number }): Promise<UploadedPart>
  /** Called when a part's bytes leave memory (uploaded, or dropped). */
  released (bytes: number): void
}

/**
 * One output file of one Kafka partition: compressed chunks are appended and shipped as multipart parts
 * once `partSize` bytes are pending. Nothing is visible until the commit protocol completes the upload.
 *
 * Chunks are written as they are, unless the file has a FileBuilder (formats with a header and trailer, such as
 * Parquet): then the builder decides which bytes are final, and holds the rest until it can write them.
 */
export class OpenFile {
  readonly key: string
  /** The assignment epoch the file belongs to; the sink moves it to the next epoch when it carries the file over. */
  epoch: number
  /** The upload's id once its create has returned (set by the uploader, with its own-upload record, at once). */
  uploadIdKnown: string | undefined = undefined
  readonly firstOffset: number
  readonly openedAt: number
  lastOffset: number
  records = 0
  bytes = 0
  encodedBytes = 0
  #pending: Buffer[] = []
  #pendingBytes = 0
  #partNumber = 0
  #uploadId: Promise<string> | undefined
  readonly #parts: UploadedPart[] = []
  readonly #inFlight: Array<Promise<void>> = []
  readonly #hash: Hash = createHash('sha256')
  readonly #uploader: PartUploader
  readonly #partSize: number
  #builder: FileBuilder | undefined
  /** Bytes handed to part uploads so far (they leave this file's memory when the uploader releases them). */
  #shipped = 0
  #sealed = false

  constructor (key: string, epoch: number, firstOffset: number, uploader: PartUploader, partSize: number, now: number, builder?: FileBuilder) {
    this.key = key
    this.epoch = epoch
    this.firstOffset = firstOffset
    this.lastOffset = firstOffset
    this.#uploader = uploader
    this.#partSize = partSize
    this.openedAt = now
    this.#builder = builder
  }

  /** Bytes held in memory and not yet uploading (a builder's held bytes included). */
  get pendingBytes (): number {
    return this.#pendingBytes + (this.#builder?.heldBytes ?? 0)
  }

  /** Appends a chunk; returns how many bytes this file now holds in memory beyond what it held before. */
  append (group: EncodedGroup): number {
    this.encodedBytes += group.encodedBytes
    this.records += group.records
    this.lastOffset = group.lastOffset
    const builder = this.#builder
    if (builder === undefined) {
      this.#write(group.data)
      if (this.#pendingBytes >= this.#partSize) this.#shipPart()
      return group.data.length
    }
    const before = this.#memory()
    for (const piece of builder.append(group, this.bytes)) this.#write(piece)
    if (this.#pendingBytes >= this.#partSize) this.#shipPart()
    return this.#memory() - before
  }

  /**
   * Ships what is pending as the last part; after this the file takes no more data. Returns the bytes added to
   * memory by it (a builder's trailer).
   */
  seal (): number {
    if (this.#sealed) return 0
    this.#sealed = true
    const before = this.#memory()
    if (this.#builder !== undefined) {
      for (const piece of this.#builder.finish(this.bytes)) this.#write(piece)
      this.#builder = undefined
    }
    if (this.#pendingBytes > 0 || this.#partNumber === 0) this.#shipPart()
    return this.#memory() - before
  }

  /** Resolves once every part is stored; rejects with the first part's error. */
  async uploaded (): Promise<CutFile> {
    await Promise.all(this.#inFlight)
    const uploadId = await (this.#uploadId as Promise<string>)
    return {
      key: this.key,
      uploadId,
      parts: [...this.#parts].sort((a, b) => a.partNumber - b.partNumber),
      firstOffset: this.firstOffset,
      lastOffset: this.lastOffset,
      records: this.records,
      bytes: this.bytes,
      encodedBytes: this.encodedBytes,
      sha256: this.#hash.digest('hex')
    }
  }

  /** Upload id if one was started (for aborting), after in-flight parts settle. */
  async settledUploadId (): Promise<string | undefined> {
    await Promise.allSettled(this.#inFlight)
    if (this.#uploadId === undefined) return undefined
    try {
      return await this.#uploadId
    } catch {
      return undefined
    }
  }

  /** Forgets pending bytes (the partition was dropped); returns how many. */
  discardPending (): number {
    const n = this.pendingBytes
    this.#pending = []
    this.#pendingBytes = 0
    this.#builder = undefined
    this.#sealed = true
    return n
  }

  #write (data: Buffer): void {
    this.#pending.push(data)
    this.#pendingBytes += data.length
    this.#hash.update(data)
    this.bytes += data.length
  }

  /** Everything this file has put in memory and not yet released: held, pending and shipped bytes. */
  #memory (): number {
    return this.pendingBytes + this.#shipped
  }

  #shipPart (): void {
    const body = this.#pending.length === 1 ? this.#pending[0] as Buffer : Buffer.concat(this.#pending, this.#pendingBytes)
    this.#pending = []
    this.#pendingBytes = 0
    this.#shipped += body.length
    const partNumber = ++this.#partNumber
    this.#uploadId ??= this.#uploader.createUpload(this.key, this)
    const uploadId = this.#uploadId
    const task = (async () => {
      try {
        const part = await this.#uploader.uploadPart(this.key, await uploadId, partNumber, body, this)
        this.#parts.push(part)
        crashPoint('after-part')
      } finally {
        this.#uploader.released(body.length)
      }
    })()
    task.catch(() => {}) // observed via uploaded()/settledUploadId(); avoid an unhandled rejection meanwhile
    this.#uploadId.catch(() => {})
    this.#inFlight.push(task)
  }
}
