import { Writable } from 'node:stream'
import type { Message } from 'kafkajs'
import { crashPoint } from '../crash-points.js'
import type { RecordDecoder } from './decode.js'

/** Sends one batch of messages to one partition and resolves once Kafka acknowledged it (acks=all). */
export type SendBatch = (messages: Message[]) => Promise<void>

export interface ProducerSinkOptions {
  decode: RecordDecoder
  /** The target partition every record of this object goes to. */
  partition: number
  /** Records (after the offset filter) already in Kafka from an earlier, interrupted run: dropped, not sent. */
  skip: number
  /** Keep a record (the offset range of a restore by offsets); undefined keeps all. */
  keep?: (offset: number | undefined) => boolean
  /** undefined: dry run, count only. */
  send?: SendBatch
  batchRecords: number
  batchBytes: number
  onSent?: (records: number, bytes: number) => void
}

/**
 * The end of an object's pipeline: record batches in, Kafka batches out. Each write completes only after the
 * batch it filled was acknowledged, so a slow broker stops the object stream (backpressure) and at most one
 * Kafka batch is held per restore. Batches of one partition go out strictly one after another, in archive order.
 */
export class ProducerSink extends Writable {
  readonly #o: ProducerSinkOptions
  #toSkip: number
  #batch: Message[] = []
  #batchBytes = 0
  /** Records this object holds after the filter (skipped ones included). */
  records = 0
  skipped = 0
  sent = 0

  constructor (options: ProducerSinkOptions) {
    super({ objectMode: true, highWaterMark: 2 })
    this.#o = options
    this.#toSkip = options.skip
  }

  override _write (lines: Buffer[], _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#add(lines).then(() => { done() }, done)
  }

  override _final (done: (err?: Error | null) => void): void {
    this.#flush().then(() => { done() }, done)
  }

  async #add (lines: Buffer[]): Promise<void> {
    const { decode, keep, partition } = this.#o
    for (const line of lines) {
      const r = decode(line)
      if (keep !== undefined && !keep(r.offset)) continue
      this.records++
      if (this.#toSkip > 0) {
        this.#toSkip--
        this.skipped++
        continue
      }
      const m: Message = { value: r.value, partition }
      if (r.key !== undefined) m.key = r.key
      if (r.headers !== undefined) m.headers = r.headers
      if (r.timestamp !== undefined) m.timestamp = String(r.timestamp)
      this.#batch.push(m)
      this.#batchBytes += r.value.length
      if (this.#batch.length >= this.#o.batchRecords || this.#batchBytes >= this.#o.batchBytes) await this.#flush()
    }
  }

  async #flush (): Promise<void> {
    if (this.#batch.length === 0) return
    const batch = this.#batch
    const bytes = this.#batchBytes
    this.#batch = []
    this.#batchBytes = 0
    if (this.#o.send !== undefined) {
      await this.#o.send(batch)
      crashPoint('restore-batch')
    }
    this.sent += batch.length
    this.#o.onSent?.(batch.length, bytes)
  }
}
