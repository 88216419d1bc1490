import { Transform, type TransformCallback } from 'node:stream'
import { constants as zlibConstants } from 'node:zlib'
import { batchBase, type BadRecord, type EncodedBatch, type EncodedGroup, type FileLayout, type OutputGroup, type ParsedRecord, type PipelineItem, type RoutedBatch } from '../types.js'
import { Compressions, OutputFormats, RawFramings, type Compression, type OutputConfig, type OutputFormat, type ParquetType, type RawFraming } from '../config/types.js'
import { ConfigError } from '../errors.js'
import { errorLine } from './error-record.js'
import { ERRORS_DIR } from './partition.js'
import { stageHighWaterMark, type StageStreamOptions } from './stream-options.js'
import { chunkCompressor, type ChunkCodec, type ChunkCompressor } from './formats/codec.js'
import { csvEncoder, unencodable } from './formats/csv.js'
import type { EncodedRecords, GroupEncoder, Rejected } from './formats/format.js'
import { frameLines, jsonLines, wrappedJsonLines } from './formats/jsonl.js'
import { ParquetEncoder, errorCodecFor } from './formats/parquet-writer.js'
import { rawEncoder } from './formats/raw.js'

export interface EncodeOptions extends StageStreamOptions {
  format: OutputFormat
  /** gzip, zstd or none for every format; snappy (and those) for parquet, whose pages it compresses. */
  compression: Compression
  /** gzip level 0..9 (default zlib's 6), zstd 1..22 (default 3). */
  compressionLevel?: number
  /** Wrap each record with its Kafka offset, partition, key, timestamp and headers (not for raw). */
  wrap?: boolean
  /** csv: field paths, in column order (required). */
  columns?: string[]
  /** csv: one character, default ','. */
  delimiter?: string
  /** raw: default newline. */
  framing?: RawFraming
  /** parquet: column (field path) → type; unset: inferred per output directory. */
  parquetSchema?: Record<string, ParquetType>
  /** parquet: compressed bytes an open file collects before it writes a row group (default 16 MiB). */
  rowGroupBytes?: number
  /**
   * Batches compressing at once (default 4). Compression runs in the libuv thread pool, so with several batches
   * (and all groups of each) in flight the second core compresses while the main thread parses. Output order
   * always equals input order. `_transform` does not complete while this many are in flight: backpressure.
   */
  maxInFlight?: number
}

export const DEFAULT_MAX_IN_FLIGHT = 4

/**
 * RoutedBatch → EncodedBatch: every group becomes one self-contained chunk, so that the sink can append the
 * chunks of a file as they come and keeps no per-file compressor state:
 *
 * - jsonl, csv, raw: the group's records framed as lines (or length-prefixed), compressed as ONE gzip member or
 *   ONE zstd frame (concatenated members / frames are one valid file), or left as they are;
 * - parquet: the group's column pages (see formats/parquet-writer.ts); the chunk carries a layout with which the
 *   sink assembles the file (header, row groups, footer).
 *
 * Error groups (`_errors/`) are always JSON lines, compressed with the output's codec (gzip for snappy).
 * A record the format cannot write (csv/parquet: not a JSON object; raw with newline framing: contains a line
 * break) goes to the error output too, under `_errors/` + its directory, with its reason. Other items pass through.
 */
export function encodeStage (options: EncodeOptions): EncodeStage {
  return new EncodeStage(options)
}

/** The encode options of a validated `output` config section. */
export function outputEncodeOptions (output: OutputConfig): EncodeOptions {
  const options: EncodeOptions = { format: output.format, compression: output.compression, compressionLevel: output.compressionLevel }
  if (output.wrap !== undefined) options.wrap = output.wrap
  if (output.columns !== undefined) options.columns = output.columns
  if (output.delimiter !== undefined) options.delimiter = output.delimiter
  if (output.framing !== undefined) options.framing = output.framing
  if (output.parquet?.schema !== undefined) options.parquetSchema = output.parquet.schema
  if (output.parquet !== undefined) options.rowGroupBytes = output.parquet.rowGroupBytes
  return options
}

/** A place in the output order; `item` is null while its batch is still compressing. */
interface Slot {
  item: PipelineItem | null
}

type Done = (err: Error | null, batch: EncodedBatch | null) => void

/** A group encoded but not yet compressed. */
interface Prepared {
  dir: string
  extension: string
  offsets: number[]
  encodedBytes: number
  /** Lines to compress, or final bytes when `compressor` is null. */
  data: Buffer
  compressor: ChunkCompressor | null
  layout?: FileLayout
}

export class EncodeStage extends Transform {
  readonly #encoder: GroupEncoder
  readonly #format: OutputFormat
  /** Compresses data chunks (null for formats that compress themselves). */
  readonly #compressor: ChunkCompressor | null
  /** The stream codec (gzip member, zstd frame or none): text and raw chunks, and error chunks of every format. */
  readonly #chunkCompressor: ChunkCompressor
  readonly #extension: string
  readonly #errorExtension: string
  readonly #parquet: ParquetEncoder | undefined
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
    const { format, compression } = options
    if (!(OutputFormats as readonly string[]).includes(format)) {
      throw new ConfigError('output.format', `must be one of ${OutputFormats.join(', ')}, got ${String(format)}`)
    }
    if (!(Compressions as readonly string[]).includes(compression)) {
      throw new ConfigError('output.compression', `must be one of ${Compressions.join(', ')}, got ${String(compression)}`)
    }
    if (compression === 'snappy' && format !== 'parquet') {
      throw new ConfigError('output.compression', `snappy is only for parquet; use gzip, zstd or none with ${format}`)
    }
    const zstd = compression === 'zstd'
    const level = options.compressionLevel ?? (zstd ? undefined : zlibConstants.Z_DEFAULT_COMPRESSION)
    if (level !== undefined && (!Number.isInteger(level) || level < (zstd ? 1 : -1) || level > (zstd ? 22 : 9))) {
      throw new ConfigError('output.compressionLevel', `must be an integer ${zstd ? '1..22' : '0..9'}, got ${String(level)}`)
    }
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new ConfigError('output.maxInFlight', `must be an integer >= 1, got ${String(maxInFlight)}`)
    }
    if (options.wrap === true && format === 'raw') throw new ConfigError('output.wrap', 'not possible with raw output')

    // Text and raw chunks and all error chunks use the stream codec; Parquet compresses its pages itself.
    const streamCodec: ChunkCodec = format === 'parquet' ? errorCodecFor(compression) : compression as ChunkCodec
    this.#chunkCompressor = chunkCompressor(streamCodec, level)
    this.#errorExtension = '.jsonl' + this.#chunkCompressor.extension
    switch (format) {
      case 'jsonl':
        this.#encoder = options.wrap === true ? wrappedJsonLines : jsonLines
        break
      case 'csv':
        if (options.columns === undefined || options.columns.length === 0) throw new ConfigError('output.columns', 'required for csv output')
        if (options.delimiter !== undefined && ([...options.delimiter].length !== 1 || /["\r\n]/.test(options.delimiter))) {
          throw new ConfigError('output.delimiter', `must be one character other than a quote or line break, got ${JSON.stringify(options.delimiter)}`)
        }
        this.#encoder = csvEncoder({ columns: options.columns, delimiter: options.delimiter, wrap: options.wrap })
        break
      case 'raw': {
        const framing = options.framing ?? 'newline'
        if (!(RawFramings as readonly string[]).includes(framing)) {
          throw new ConfigError('output.framing', `must be one of ${RawFramings.join(', ')}, got ${String(framing)}`)
        }
        this.#encoder = rawEncoder(framing)
        break
      }
      case 'parquet':
        this.#parquet = new ParquetEncoder({
          schema: options.parquetSchema,
          wrap: options.wrap,
          compression,
          compressionLevel: level,
          rowGroupBytes: options.rowGroupBytes
        })
        this.#encoder = this.#parquet
        break
    }
    this.#compressor = this.#encoder.assembled ? null : this.#chunkCompressor
    this.#extension = this.#encoder.assembled ? this.#encoder.extension : this.#encoder.extension + this.#chunkCompressor.extension
    this.#maxInFlight = maxInFlight
    this.#format = format
  }

  /** Items accepted and not yet pushed (for tests and metrics); never more than maxInFlight. */
  get inFlight (): number {
    return this.#queue.length
  }

  override _transform (item: PipelineItem, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (item.kind === 'assignment') this.#parquet?.reset()
    if (item.kind === 'routed' && hasRecords(item)) {
      let prepared: Prepared[]
      try {
        prepared = this.#prepare(item)
      } catch (err) {
        callback(err as Error)
        return
      }
      const slot: Slot = { item: null }
      this.#queue.push(slot)
      // Completes at once when no compression is asynchronous; #drain keeps the order either way.
      this.#compress(item, prepared, (err, encoded) => {
        if (this.#failed) return
        if (err !== null) {
          this.#fail(err)
          return
        }
        slot.item = encoded
        this.#drain()
      })
      if (!this.#failed) this.#accepted(callback)
      return
    }
    const out = item.kind === 'routed' ? encodedBatch(item, []) : item
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

  /** Encodes every group (synchronous CPU work); records a format rejects join the batch's error groups. */
  #prepare (batch: RoutedBatch): Prepared[] {
    const prepared: Prepared[] = []
    // Error groups by directory, so that rejected records can join them; usually empty.
    const errors = new Map<string, OutputGroup>()
    for (const group of batch.groups) if (group.errors && group.values.length > 0) errors.set(group.dir, group)
    for (const group of batch.groups) {
      if (group.values.length === 0 || group.errors) continue
      const encoded = this.#encodeGroup(group, batch.partition)
      let offsets = group.offsets
      if (encoded.rejected.length > 0) {
        offsets = divert(group, encoded.rejected, batch.partition, errors)
        if (offsets.length === 0) continue
      }
      const p: Prepared = {
        dir: group.dir,
        extension: this.#extension,
        offsets,
        encodedBytes: encoded.encodedBytes ?? encoded.data.length,
        data: encoded.data,
        compressor: this.#compressor
      }
      if (encoded.layout !== undefined) p.layout = encoded.layout
      prepared.push(p)
    }
    for (const group of errors.values()) {
      const lines = frameLines(group.values)
      prepared.push({ dir: group.dir, extension: this.#errorExtension, offsets: group.offsets, encodedBytes: lines.length, data: lines, compressor: this.#chunkCompressor })
    }
    return prepared
  }

  /**
   * The group encoded by the format. Formats reject the records they cannot write; should one throw instead, the
   * batch must not fail: the service would restart from the last commit and meet the same record again, forever,
   * and the partition would never move. So the records that throw on their own are found (each encoded alone),
   * rejected with the error as their reason, and the rest encoded together. Only reached when a format misses a
   * case (so the probing, which may fix an inferred Parquet schema from a single record, costs nothing normally).
   */
  #encodeGroup (group: OutputGroup, partition: number): EncodedRecords {
    try {
      return this.#encoder.encode(group, partition)
    } catch (err) {
      const rejected: Rejected[] = []
      const keep: number[] = []
      for (let i = 0; i < group.values.length; i++) {
        try {
          this.#encoder.encode(subgroup(group, [i]), partition)
          keep.push(i)
        } catch (recordErr) {
          rejected.push({ index: i, reason: unencodable(this.#format, recordErr) })
        }
      }
      let encoded: EncodedRecords
      try {
        encoded = this.#encoder.encode(subgroup(group, keep), partition)
      } catch {
        // Each encodes alone but not together: none of them is written as data rather than failing the batch.
        for (const index of keep) rejected.push({ index, reason: unencodable(this.#format, err) })
        rejected.sort((a, b) => a.index - b.index)
        return { data: Buffer.alloc(0), rejected }
      }
      for (const r of encoded.rejected) rejected.push({ index: keep[r.index] as number, reason: r.reason })
      rejected.sort((a, b) => a.index - b.index)
      return { ...encoded, rejected }
    }
  }

  /** Compresses all groups of a batch concurrently (each gzip call is one thread-pool job). */
  #compress (batch: RoutedBatch, prepared: Prepared[], done: Done): void {
    const groups = new Array<EncodedGroup>(prepared.length)
    let remaining = prepared.length
    let failed = false
    const finished = (): void => { if (--remaining === 0) done(null, encodedBatch(batch, groups)) }
    prepared.forEach((p, index) => {
      if (p.compressor === null) {
        groups[index] = encodedGroup(p, p.data)
        finished()
        return
      }
      p.compressor.compress(p.data, (err, data) => {
        if (failed) return
        if (err !== null) {
          failed = true
          done(err, null)
          return
        }
        groups[index] = encodedGroup(p, data)
        finished()
      })
    })
  }
}

/**
 * Moves rejected records of a data group into the error group of `_errors/` + its directory (merged in offset
 * order with the partition stage's error records of that directory, if any); returns the offsets kept.
 */
function divert (group: OutputGroup, rejected: Rejected[], partition: number, errors: Map<string, OutputGroup>): number[] {
  const dir = `${ERRORS_DIR}/${group.dir}`
  const target = errors.get(dir) ?? { dir, errors: true, offsets: [], values: [] }
  const pairs: Array<[number, Buffer]> = target.offsets.map((o, i) => [o, target.values[i] as Buffer])
  const out = new Set<number>()
  for (const { index, reason } of rejected) {
    out.add(index)
    const record = group.records?.[index]
    const offset = group.offsets[index] as number
    const bad: BadRecord = {
      offset,
      partition,
      timestamp: record?.kafka?.timestamp ?? record?.timestampMs ?? 0,
      reason,
      value: record?.raw ?? group.values[index] as Buffer
    }
    pairs.push([offset, errorLine(bad)])
  }
  pairs.sort((a, b) => a[0] - b[0])
  errors.set(dir, { dir, errors: true, offsets: pairs.map(p => p[0]), values: pairs.map(p => p[1]) })
  return group.offsets.filter((_, i) => !out.has(i))
}

/** The records of `group` at `indices` (ascending), as a group of their own. */
function subgroup (group: OutputGroup, indices: number[]): OutputGroup {
  const out: OutputGroup = {
    dir: group.dir,
    errors: group.errors,
    offsets: indices.map(i => group.offsets[i] as number),
    values: indices.map(i => group.values[i] as Buffer)
  }
  const records = group.records
  if (records !== undefined) out.records = indices.map(i => records[i] as ParsedRecord)
  return out
}

function hasRecords (batch: RoutedBatch): boolean {
  return batch.groups.some(group => group.values.length > 0)
}

function encodedGroup (p: Prepared, data: Buffer): EncodedGroup {
  const g: EncodedGroup = {
    dir: p.dir,
    extension: p.extension,
    firstOffset: p.offsets[0] as number,
    lastOffset: p.offsets[p.offsets.length - 1] as number,
    records: p.offsets.length,
    encodedBytes: p.encodedBytes,
    data
  }
  if (p.layout !== undefined) g.layout = p.layout
  return g
}

function encodedBatch (batch: RoutedBatch, groups: EncodedGroup[]): EncodedBatch {
  return {
    kind: 'encoded',
    ...batchBase(batch),
    groups
  }
}
