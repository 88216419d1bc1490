import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { CompressDone } from './codec.js'

/**
 * zstd on a worker thread, for Node versions without node:zlib's zstd (Node 20). zstd-napi compresses
 * synchronously, so on the main thread it would take turns with parsing; on a worker it runs on the second core
 * beside it, as gzip does in libuv's thread pool. One worker per process, started on first use; it keeps the
 * process alive only while it has work.
 */

// Plain CommonJS so the worker needs no TypeScript loader; zstd-napi is resolved here, where node_modules is known.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { Compressor } = require(workerData.zstdPath)
const compressors = new Map()
parentPort.on('message', ({ id, level, input }) => {
  let c = compressors.get(level)
  if (c === undefined) {
    c = new Compressor()
    c.setParameters({ compressionLevel: level })
    compressors.set(level, c)
  }
  try {
    const out = c.compress(Buffer.from(input.buffer, input.byteOffset, input.byteLength))
    const owned = out.byteOffset === 0 && out.buffer.byteLength === out.byteLength
    parentPort.postMessage({ id, out }, owned ? [out.buffer] : [])
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) })
  }
})
`

interface Reply { id: number, out?: Uint8Array, error?: string }

let shared: ZstdWorker | undefined

export class ZstdWorker {
  readonly #worker: Worker
  readonly #pending = new Map<number, CompressDone>()
  #nextId = 0
  #failed: Error | undefined

  /** The process-wide worker (started on first use). */
  static shared (): ZstdWorker {
    if (shared === undefined || shared.#failed !== undefined) shared = new ZstdWorker()
    return shared
  }

  constructor () {
    const zstdPath = createRequire(import.meta.url).resolve('zstd-napi')
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstdPath } })
    this.#worker.on('message', (reply: Reply) => { this.#settle(reply) })
    this.#worker.on('error', (err) => { this.#fail(err) })
    this.#worker.on('exit', (code) => { this.#fail(new Error(`zstd worker exited (code ${code})`)) })
    // After the listeners: adding a 'message' listener refs the worker again.
    this.#worker.unref()
  }

  /** Compresses `input` as one zstd frame; `done` is called later, never synchronously. */
  compress (input: Buffer, level: number, done: CompressDone): void {
    if (this.#failed !== undefined) {
      const err = this.#failed
      queueMicrotask(() => { done(err, input) })
      return
    }
    const id = this.#nextId++
    if (this.#pending.size === 0) this.#worker.ref()
    this.#pending.set(id, done)
    // Hand the memory over instead of copying it when the input owns its whole ArrayBuffer (large chunks do;
    // small ones are slices of Node's shared pool and are copied).
    const owned = input.byteOffset === 0 && input.buffer.byteLength === input.byteLength
    this.#worker.postMessage({ id, level, input }, owned ? [input.buffer as ArrayBuffer] : [])
  }

  #settle (reply: Reply): void {
    const done = this.#pending.get(reply.id)
    if (done === undefined) return
    this.#pending.delete(reply.id)
    if (this.#pending.size === 0) this.#worker.unref()
    if (reply.error !== undefined || reply.out === undefined) done(new Error(`zstd: ${reply.error ?? 'no output'}`), Buffer.alloc(0))
    else done(null, Buffer.from(reply.out.buffer, reply.out.byteOffset, reply.out.byteLength))
  }

  #fail (err: Error): void {
    if (this.#failed !== undefined) return
    this.#failed = err
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    this.#worker.unref()
    for (const done of pending) done(err, Buffer.alloc(0))
  }
}
