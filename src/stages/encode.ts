import { Transform, type TransformCallback } from 'node:stream'
import { constants as zlibConstants, gzip, type ZlibOptions } from 'node:zlib'
import { batchBase, type EncodedBatch, type EncodedGroup, type OutputGroup, type PipelineItem, type RoutedBatch } from '../types.js'
import { Compressions, OutputFormats, type Compression, type OutputFormat } from '../config/types.js'
import { ConfigError } from '../errors.js'
import { stageHighWaterMark, type StageStreamOptions } from './stream-options.js'

export interface EncodeOptions extends StageStreamOptions {
  format: OutputFormat
  compression: Compression
  /** gzip level 0..9 (default zlib's 6). */
  compressionLevel?: number
  /**
   * Batches compressing at once (default 4). Compression runs in the libuv thread pool, so with several batches
   * (and all groups of each) in flight the second core compresses while the main thread parses. Output order
   * always equals input order. `_transform` does not complete while this many are in flight: backpressure.
   */
  maxInFlight?: number
}

export const DEFAULT_MAX_IN_FLIGHT = 4

/**
 * RoutedBatch → EncodedBatch: every group becomes one self-contained chunk: JSON lines (each value + '\n'),
 * gzip-compressed as ONE independent gzip member. Members of the same file concatenate into a valid multi-member
 * gzip file, which is what lets the sink append the chunks of a file as they come. Other items pass through.
 */
export function encodeStage (options: EncodeOptions): EncodeStage {
  return new EncodeStage(options)
}

/** A place in the output order; `item` is null while its batch is still compressing. */
interface Slot {
  item: PipelineItem | null
}

type Done = (err: Error | null, batch: EncodedBatch | null) => void

export class EncodeStage extends Transform {
  readonly #gzip: boolean
  readonly #level: number
  readonly #extension: string
  readonly #maxInFlight: number
  /** Items accepted but not yet pushed, in input order. Its head is always pending (ready heads are pushed). */
  readonly #queue: Slot[] = []
  /** The write callback withheld while #maxInFlight items are queued. */
  #writeCallback: TransformCallback | null = null
  #flushCallback: TransformCallback | null = null
  #failed = false

  constructor (options: EncodeOptions) {
    const hwm = stageHighWaterMark(options, 'output')
    super({ objectMode: true, highWaterMark: hwm })
    if (!(OutputFormats as readonly string[]).includes(options.format)) {
      throw new ConfigError('output.format', `must be one of ${OutputFormats.join(', ')}, got ${String(options.format)}`)
    }
    if (!(Compressions as readonly string[]).includes(options.compression)) {
      throw new ConfigError('output.compression', `must be one of ${Compressions.join(', ')}, got ${String(options.compression)}`)
    }
    const level = options.compressionLevel ?? zlibConstants.Z_DEFAULT_COMPRESSION
    if (!Number.isInteger(level) || level < -1 || level > 9) {
      throw new ConfigError('output.compressionLevel', `must be an integer 0..9, got ${String(level)}`)
    }
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new ConfigError('output.maxInFlight', `must be an integer >= 1, got ${String(maxInFlight)}`)
    }
    this.#gzip = options.compression === 'gzip'
    this.#level = level
    this.#extension = this.#gzip ? '.jsonl.gz' : '.jsonl'
    this.#maxInFlight = maxInFlight
  }

  /** Items accepted and not yet pushed (for tests and metrics); never more than maxInFlight. */
  get inFlight (): number {
    return this.#queue.length
  }

  override _transform (item: PipelineItem, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (item.kind === 'routed' && this.#gzip && hasRecords(item)) {
      const slot: Slot = { item: null }
      this.#queue.push(slot)
      this.#compress(item, (err, encoded) => {
        if (this.#failed) return
        if (err !== null) {
          this.#fail(err)
          return
        }
        slot.item = encoded
        this.#drain()
      })
      this.#accepted(callback)
      return
    }
    // Synchronous work (plain encoding, pass-through): straight out unless something earlier is still pending.
    const out = item.kind === 'routed' ? this.#encodePlain(item) : item
    if (this.#queue.length === 0) {
      callback(null, out)
      return
    }
    this.#queue.push({ item: out })
    this.#accepted(callback)
  }

  override _flush (callback: TransformCallback): void {
    if (this.#queue.length === 0) callback()
    else this.#flushCallback = callback
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    this.#failed = true // results still arriving from the thread pool are dropped
    this.#queue.length = 0
    this.#writeCallback = null
    this.#flushCallback = null
    callback(err)
  }

  #accepted (callback: TransformCallback): void {
    if (this.#queue.length < this.#maxInFlight) callback()
    else this.#writeCallback = callback
  }

  /** Pushes every ready item at the head of the queue, then releases a withheld write or flush. */
  #drain (): void {
    const queue = this.#queue
    while (queue.length > 0 && queue[0]?.item != null) {
      const slot = queue.shift() as Slot
      this.push(slot.item)
    }
    if (this.#writeCallback !== null && queue.length < this.#maxInFlight) {
      const callback = this.#writeCallback
      this.#writeCallback = null
      callback()
    }
    if (this.#flushCallback !== null && queue.length === 0) {
      const callback = this.#flushCallback
      this.#flushCallback = null
      callback()
    }
  }

  #fail (err: Error): void {
    this.#failed = true
    this.#queue.length = 0
    const callback = this.#writeCallback ?? this.#flushCallback
    this.#writeCallback = null
    this.#flushCallback = null
    if (callback !== null) callback(err)
    else this.destroy(err)
  }

  #encodePlain (batch: RoutedBatch): EncodedBatch {
    const groups: EncodedGroup[] = []
    for (const group of batch.groups) {
      if (group.values.length === 0) continue
      const lines = frameLines(group)
      groups.push(this.#encodedGroup(group, lines.length, lines))
    }
    return encodedBatch(batch, groups)
  }

  /** Compresses all groups of a batch concurrently (each zlib.gzip call is one thread-pool job). */
  #compress (batch: RoutedBatch, done: Done): void {
    const source = batch.groups.filter(group => group.values.length > 0)
    const groups = new Array<EncodedGroup>(source.length)
    let remaining = source.length
    let failed = false
    source.forEach((group, index) => {
      const lines = frameLines(group)
      gzip(lines, this.#zlibOptions(lines.length), (err, data) => {
        if (failed) return
        if (err !== null) {
          failed = true
          done(err, null)
          return
        }
        groups[index] = this.#encodedGroup(group, lines.length, data)
        if (--remaining === 0) done(null, encodedBatch(batch, groups))
      })
    })
  }

  #zlibOptions (inputBytes: number): ZlibOptions {
    // zlib.gzip makes one thread-pool round trip per filled output chunk; sizing the chunk to about half the
    // input (JSON compresses far better than 2:1) makes that a single trip. Node concatenates the output into
    // an exact-size buffer, so the oversized chunk is not retained.
    const chunkSize = Math.min(Math.max(inputBytes >>> 1, 16 * 1024), 8 * 1024 * 1024)
    return { level: this.#level, chunkSize }
  }

  #encodedGroup (group: OutputGroup, encodedBytes: number, data: Buffer): EncodedGroup {
    const { offsets, values } = group
    return {
      dir: group.dir,
      extension: this.#extension,
      firstOffset: offsets[0] as number,
      lastOffset: offsets[offsets.length - 1] as number,
      records: values.length,
      encodedBytes,
      data
    }
  }
}

function hasRecords (batch: RoutedBatch): boolean {
  return batch.groups.some(group => group.values.length > 0)
}

/** JSON lines of a group: every value followed by '\n', in one buffer allocated at its final size. */
function frameLines (group: OutputGroup): Buffer {
  const values = group.values
  let size = values.length
  for (let i = 0; i < values.length; i++) size += (values[i] as Buffer).length
  const out = Buffer.allocUnsafe(size) // every byte is written below
  let pos = 0
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as Buffer
    out.set(value, pos)
    pos += value.length
    out[pos++] = 10
  }
  return out
}

function encodedBatch (batch: RoutedBatch, groups: EncodedGroup[]): EncodedBatch {
  return {
    kind: 'encoded',
    ...batchBase(batch),
    groups
  }
}
