import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { ErrorCodes, FencedError, SedimentError } from '../errors.js'
import type { ObjectStore, UploadedPart } from './object-store.js'

/** Where in-progress uploads live, relative to the root. Query engines skip names starting with '_' or '.'. */
const UPLOADS_DIR = '_sediment/uploads'

/**
 * A local directory with S3's visibility rule: parts go to a hidden per-upload directory, and `completeUpload`
 * concatenates them into a hidden temp file next to the target, fsyncs it and renames it into place, so a
 * reader sees either nothing or the whole object.
 */
export class FileStore implements ObjectStore {
  readonly location: string
  readonly #root: string

  constructor (options: { directory: string }) {
    this.#root = options.directory
    this.location = `file://${options.directory}`
  }

  async createUpload (key: string): Promise<string> {
    const uploadId = randomUUID()
    const dir = this.#uploadDir(uploadId)
    await this.#fs(`create upload ${key}`, async () => {
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, 'key'), key)
    })
    return uploadId
  }

  async uploadPart (key: string, uploadId: string, partNumber: number, body: Buffer): Promise<UploadedPart> {
    const dir = this.#uploadDir(uploadId)
    // An aborted or completed upload takes no more parts; aborted means a new owner swept it: we are fenced.
    if (!(await exists(dir))) throw new FencedError(`upload of ${key} was aborted by another writer`)
    await this.#fs(`upload part ${partNumber} of ${key}`, async () => {
      await writeDurably(join(dir, `part-${String(partNumber).padStart(5, '0')}`), body)
    })
    return { partNumber, etag: `"${createHash('md5').update(body).digest('hex')}"` }
  }

  async completeUpload (key: string, uploadId: string, parts: UploadedPart[]): Promise<'completed' | 'no-such-upload'> {
    const dir = this.#uploadDir(uploadId)
    if (!(await exists(dir))) return 'no-such-upload'
    const target = this.#path(key)
    const tmp = join(dirname(target), `.${uploadId}.tmp`)
    await this.#fs(`complete ${key}`, async () => {
      await mkdir(dirname(target), { recursive: true })
      const out = createWriteStream(tmp)
      for (const part of [...parts].sort((a, b) => a.partNumber - b.partNumber)) {
        await pipeline(createReadStream(join(dir, `part-${String(part.partNumber).padStart(5, '0')}`)), out, { end: false })
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => err == null ? resolve() : reject(err)))
      await fsync(tmp)
      await rename(tmp, target)
      await rm(dir, { recursive: true, force: true })
    })
    return 'completed'
  }

  async abortUpload (key: string, uploadId: string): Promise<void> {
    await this.#fs(`abort ${key}`, async () => { await rm(this.#uploadDir(uploadId), { recursive: true, force: true }) })
  }

  async put (key: string, body: Buffer): Promise<void> {
    const target = this.#path(key)
    const tmp = join(dirname(target), `.${randomUUID()}.tmp`)
    await this.#fs(`put ${key}`, async () => {
      await mkdir(dirname(target), { recursive: true })
      await writeDurably(tmp, body)
      await rename(tmp, target)
    })
  }

  async get (key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.#path(key))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw storeError(`get ${key}`, err)
    }
  }

  async size (key: string): Promise<number | null> {
    try {
      return (await stat(this.#path(key))).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw storeError(`stat ${key}`, err)
    }
  }

  async delete (key: string): Promise<void> {
    await this.#fs(`delete ${key}`, async () => { await rm(this.#path(key), { force: true }) })
  }

  async * list (prefix: string, startAfter?: string): AsyncIterable<{ key: string, size: number, lastModified?: number }> {
    // Walk the deepest directory the prefix names fully, then filter by the whole prefix (S3 semantics).
    const slash = prefix.lastIndexOf('/')
    const start = slash < 0 ? this.#root : this.#path(prefix.slice(0, slash))
    const keys: Array<{ key: string, size: number, lastModified: number }> = []
    await walk(start, async (file) => {
      const key = relative(this.#root, file).split(sep).join('/')
      if (key.startsWith(prefix) && (startAfter === undefined || key > startAfter) && !key.startsWith(UPLOADS_DIR) && !basename(key).startsWith('.')) {
        const st = await stat(file)
        keys.push({ key, size: st.size, lastModified: st.mtimeMs })
      }
    })
    keys.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    yield * keys
  }

  async * listUploads (prefix: string): AsyncIterable<{ key: string, uploadId: string }> {
    let ids: string[]
    try {
      ids = await readdir(join(this.#root, UPLOADS_DIR))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw storeError('list uploads', err)
    }
    for (const uploadId of ids) {
      const key = await readFile(join(this.#root, UPLOADS_DIR, uploadId, 'key'), 'utf8').catch(() => null)
      if (key !== null && key.startsWith(prefix)) yield { key, uploadId }
    }
  }

  async close (): Promise<void> {}

  #uploadDir (uploadId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(uploadId)) throw new SedimentError(ErrorCodes.STORE, `invalid upload id ${uploadId}`)
    return join(this.#root, UPLOADS_DIR, uploadId)
  }

  #path (key: string): string {
    if (key.split('/').some((s) => s === '..' || s === '')) {
      throw new SedimentError(ErrorCodes.STORE, `invalid object key "${key}"`)
    }
    return join(this.#root, ...key.split('/'))
  }

  async #fs (what: string, action: () => Promise<void>): Promise<void> {
    try {
      await action()
    } catch (err) {
      throw storeError(what, err)
    }
  }
}

function basename (key: string): string {
  return key.slice(key.lastIndexOf('/') + 1)
}

function storeError (what: string, err: unknown): SedimentError {
  const code = (err as NodeJS.ErrnoException).code
  const hint = code === 'ENOSPC' ? ' (disk full)' : code === 'EACCES' || code === 'EROFS' ? ' (not writable)' : ''
  return new SedimentError(ErrorCodes.STORE, `file store: ${what} failed${hint}: ${(err as Error).message}`, { cause: err })
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

async function writeDurably (path: string, body: Buffer): Promise<void> {
  const handle = await open(path, 'w')
  try {
    await handle.writeFile(body)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function fsync (path: string): Promise<void> {
  const handle = await open(path, 'r+')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function walk (dir: string, visit: (file: string) => Promise<void>): Promise<void> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw storeError(`list ${dir}`, err)
  }
  for (const entry of entries) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) await walk(full, visit)
    else if (entry.isFile()) await visit(full)
  }
}
