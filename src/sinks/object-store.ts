/**
 * The few object-store operations the commit protocol needs. Every store (S3, a local directory, Azure Blob) implements
 * them with the same visibility rule: an object under its final key becomes visible only at
 * `completeUpload`/`put`, never while its parts are being written.
 */

export interface UploadedPart {
  partNumber: number
  etag: string
}

export interface ObjectStore {
  /** Human-readable location for logs, e.g. `s3://bucket` or `file:///data`. */
  readonly location: string
  /** Starts an invisible multipart upload to `key`; returns its upload id. */
  createUpload (key: string): Promise<string>
  /** Uploads one part (all but the last must be ≥ 5 MiB on S3). */
  uploadPart (key: string, uploadId: string, partNumber: number, body: Buffer): Promise<UploadedPart>
  /**
   * Makes the object visible. Resolves `'completed'`, or `'no-such-upload'` when the upload id is unknown
   * (already completed by another owner, or aborted): the caller decides with `exists`.
   */
  completeUpload (key: string, uploadId: string, parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'>
  /** Aborts an upload; an unknown upload id is not an error. */
  abortUpload (key: string, uploadId: string): Promise<void>
  /** Small whole-object write (manifests, intents), visible at once. */
  put (key: string, body: Buffer, contentType?: string): Promise<void>
  /** Reads a small object (intents, manifests), or null when absent. Never used on data files. */
  get (key: string): Promise<Buffer | null>
  /** Size of an object, or null when absent (metadata only, no data read). */
  size (key: string): Promise<number | null>
  delete (key: string): Promise<void>
  /** Lists keys under a prefix in key order, with sizes (and modification times, ms); only after `startAfter`. */
  list (prefix: string, startAfter?: string): AsyncIterable<{ key: string, size: number, lastModified?: number }>
  /** Lists multipart uploads in progress under a prefix (to abort what dead writers left behind). */
  listUploads (prefix: string): AsyncIterable<{ key: string, uploadId: string }>
  close (): Promise<void>
}

/** Joins key segments, skipping empty ones (an empty prefix must not produce a leading '/'). */
export function joinKey (...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/')
}
