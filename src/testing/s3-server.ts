import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hasExited, readFirstLine, terminate, unrefChild } from './child.js'

export interface S3TestServerOptions {
  /** Where objects are stored; kept on stop. Default: a temp directory removed on stop. */
  directory?: string
  /** Buckets to create at start (names of at least 3 characters). */
  buckets?: string[]
  /** Listen port on 127.0.0.1; default 0 (any free port). Give the old port to restart a server on the same data. */
  port?: number
}

/** An in-progress multipart upload as stored by the server. */
export interface IncompleteUpload {
  key: string
  uploadId: string
  initiated: Date
}

const CHILD_SCRIPT = fileURLToPath(new URL('./s3rver-child.cjs', import.meta.url))
const START_TIMEOUT_MS = 15_000
const live = new Set<S3TestServer>()

/**
 * s3rver (plus AbortMultipartUpload, ListParts, ListMultipartUploads and S3's NoSuchUpload answers, see
 * s3rver-child.cjs) in a child process, so that fault tests can SIGSTOP or kill it like a real remote store.
 * Any credentials are accepted; `clientConfig` has everything an S3Client needs.
 */
export class S3TestServer {
  readonly endpoint: string
  readonly port: number
  /** The storage directory (s3rver's layout: <directory>/<bucket>/<key>._S3rver_object, ...). */
  readonly directory: string
  readonly clientConfig: {
    endpoint: string
    region: string
    forcePathStyle: true
    credentials: { accessKeyId: string, secretAccessKey: string }
  }

  readonly #child: ChildProcess
  readonly #ownsDirectory: boolean
  #stopping: Promise<void> | undefined

  private constructor (child: ChildProcess, port: number, directory: string, ownsDirectory: boolean) {
    this.#child = child
    this.port = port
    this.endpoint = `http://127.0.0.1:${port}`
    this.directory = directory
    this.#ownsDirectory = ownsDirectory
    this.clientConfig = {
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
    }
  }

  static async start (opts: S3TestServerOptions = {}): Promise<S3TestServer> {
    for (const b of opts.buckets ?? []) {
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(b)) throw new Error(`invalid bucket name: ${JSON.stringify(b)}`)
    }
    const ownsDirectory = opts.directory === undefined
    const directory = opts.directory ?? mkdtempSync(join(tmpdir(), 'sediment-s3-'))
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT // the child is not a test file
    delete env.NODE_OPTIONS // no loaders (tsx) needed for a .cjs file
    const args = JSON.stringify({ directory, buckets: opts.buckets ?? [], port: opts.port ?? 0 })
    const child = spawn(process.execPath, ['--openssl-legacy-provider', CHILD_SCRIPT, args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env
    })
    try {
      const line = await readFirstLine(child, 's3rver', START_TIMEOUT_MS)
      const { port } = JSON.parse(line) as { port: number }
      const server = new S3TestServer(child, port, directory, ownsDirectory)
      live.add(server)
      // stdout carries nothing more; stderr is kept by readFirstLine for error messages
      child.stdout?.resume()
      unrefChild(child)
      return server
    } catch (err) {
      child.kill('SIGKILL')
      if (ownsDirectory) rmSync(directory, { recursive: true, force: true })
      throw err
    }
  }

  get pid (): number | undefined {
    return this.#child.pid
  }

  /** Sends a signal to the server process, e.g. SIGSTOP / SIGCONT to freeze it, SIGKILL to crash it. */
  kill (signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!hasExited(this.#child)) this.#child.kill(signal)
  }

  /** @internal SIGKILL and remove the temp directory, synchronously. */
  killNow (): void {
    this.kill('SIGKILL')
    if (this.#ownsDirectory) rmSync(this.directory, { recursive: true, force: true })
  }

  /** Stops the server (also a frozen or killed one) and removes its temp directory. Idempotent. */
  stop (): Promise<void> {
    this.#stopping ??= (async () => {
      await terminate(this.#child, 3000)
      live.delete(this)
      if (this.#ownsDirectory) rmSync(this.directory, { recursive: true, force: true })
    })()
    return this.#stopping
  }

  /**
   * Multipart uploads started but neither completed nor aborted, read from the storage directory (works while the
   * server is frozen). The same as ListMultipartUploads over HTTP, which the server also answers.
   */
  async listIncompleteUploads (bucket: string): Promise<IncompleteUpload[]> {
    const dir = join(this.directory, bucket, '._S3rver_uploads')
    let ids: string[]
    try {
      ids = await readdir(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const uploads = await Promise.all(ids.map(async (uploadId) => {
      try {
        const keyFile = join(dir, uploadId, 'key')
        const [key, st] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)])
        return { key, uploadId, initiated: st.mtime }
      } catch {
        return null // removed while listing
      }
    }))
    return uploads.filter((u): u is IncompleteUpload => u !== null).sort((a, b) => a.key.localeCompare(b.key))
  }
}

// Synchronous last resort for servers never stopped (an 'exit' hook cannot await).
process.once('exit', () => {
  for (const s of live) s.killNow()
})
