import { gzipSync } from 'node:zlib'
import type { ParquetType } from '../../config/types.js'
import type { EncodedGroup, FileBuilder, FileLayout, OutputGroup, ParsedRecord } from '../../types.js'
import { MISSING } from '../field-path.js'
import { zstdSync, ZSTD_DEFAULT_LEVEL } from './codec.js'
import type { EncodedRecords, GroupEncoder, Rejected } from './format.js'
import { NOT_AN_OBJECT, unencodable } from './csv.js'
import { kafkaMeta, recordDoc } from './kafka-meta.js'
import { MISFIT, configuredSchema, fit, inferSchema, type ParquetColumn, type ParquetSchema, type Physical } from './parquet-schema.js'
import { serializeThrift, snappyCompress, thrift } from './parquet-thrift.js'

/**
 * Parquet output, split along the pipeline so that CPU work stays in the encode stage:
 *
 * - encode stage (`ParquetEncoder`): each group's records become one data page per column (more for large
 *   groups): PLAIN values, RLE/bit-packed definition levels, compressed with the page codec. The pages do not
 *   depend on where they end up in the file. The group's `data` is all its pages; its `layout` (a ParquetChunk)
 *   says which bytes belong to which column.
 * - sink (`ParquetFileBuilder`, one per open file): writes "PAR1", collects pages per column until the file holds
 *   `rowGroupBytes`, then writes them as one row group (column chunks with their metadata at absolute offsets),
 *   and on seal the last row group and the footer. Held pages count towards the sink's memory budget.
 *
 * Pages are Parquet v1 data pages; columns are all OPTIONAL and flat (see parquet-schema.ts).
 */

export type PageCodec = 'snappy' | 'gzip' | 'zstd' | 'none'

export interface ParquetOptions {
  /** Column (field path) → type; unset: inferred per output directory. */
  schema?: Record<string, ParquetType>
  wrap?: boolean
  compression: PageCodec
  compressionLevel?: number
  /** Compressed bytes an open file collects before it writes a row group (default 16 MiB). */
  rowGroupBytes?: number
}

export const DEFAULT_ROW_GROUP_BYTES = 16 * 1024 * 1024
/** Rows per data page: bounds the size of one page of a large group. */
export const PAGE_ROWS = 20_000
/** Inferred schemas remembered (one per output directory); on overflow the least recently used is forgotten. */
export const MAX_SCHEMAS = 4096

const MAGIC = Buffer.from('PAR1')

const CODEC_ID: Record<PageCodec, number> = {
  none: thrift.CompressionCodec.UNCOMPRESSED,
  snappy: thrift.CompressionCodec.SNAPPY,
  gzip: thrift.CompressionCodec.GZIP,
  zstd: thrift.CompressionCodec.ZSTD
}

/** One column's pages in a chunk (or collected for a row group). */
interface ColumnPages {
  pages: Buffer[]
  /** Rows, nulls included. */
  numValues: number
  nullCount: number
  /** Page headers plus uncompressed bodies. */
  uncompressed: number
  /** Page headers plus compressed bodies: the bytes in the file. */
  compressed: number
  /** Numeric columns: smallest and largest value, for statistics. */
  min?: number
  max?: number
}

/** The layout of a Parquet group: its schema and which of its bytes are which column's pages. */
export class ParquetChunk implements FileLayout {
  readonly id: string
  constructor (
    readonly schema: ParquetSchema,
    readonly codec: PageCodec,
    readonly rowGroupBytes: number,
    readonly rows: number,
    readonly columns: ColumnPages[]
  ) {
    this.id = schema.id
  }

  open (): FileBuilder {
    return new ParquetFileBuilder(this.schema, this.codec, this.rowGroupBytes)
  }
}

export class ParquetEncoder implements GroupEncoder {
  readonly extension = '.parquet'
  readonly assembled = true
  readonly #configured: ParquetSchema | undefined
  readonly #inferred = new Map<string, ParquetSchema>()
  readonly #wrap: boolean
  readonly #codec: PageCodec
  readonly #compress: (body: Buffer) => Buffer
  readonly #rowGroupBytes: number

  constructor (options: ParquetOptions) {
    this.#wrap = options.wrap === true
    this.#configured = options.schema === undefined ? undefined : configuredSchema(options.schema, this.#wrap)
    this.#codec = options.compression
    this.#compress = pageCompressor(options.compression, options.compressionLevel)
    this.#rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES
  }

  /** Forgets inferred schemas (on reassignment: every open file is gone, new ones may infer afresh). */
  reset (): void {
    this.#inferred.clear()
  }

  encode (group: OutputGroup, partition: number): EncodedRecords {
    const { offsets, values, records } = group
    const docs: Array<Record<string, unknown>> = []
    const kept: number[] = []
    const rejected: Rejected[] = []
    for (let i = 0; i < values.length; i++) {
      const doc = recordDoc(records?.[i], values[i] as Buffer)
      if (doc === undefined) {
        rejected.push({ index: i, reason: NOT_AN_OBJECT })
      } else {
        docs.push(doc)
        kept.push(i)
      }
    }
    if (docs.length === 0) return { data: Buffer.alloc(0), rejected }
    const schema = this.#schema(group.dir, docs)
    const columns = schema.columns
    const defined = columns.map(() => new Uint8Array(docs.length))
    const columnValues: Array<Array<string | number | boolean>> = columns.map(() => [])
    const put = (c: number, row: number, value: string | number | boolean): void => {
      (defined[c] as Uint8Array)[row] = 1;
      (columnValues[c] as Array<string | number | boolean>).push(value)
    }
    // Rows are written at `n`, which advances only when the whole record encodes: a record whose encoding throws
    // (JSON.stringify of a value nested thousands deep) goes to the error output, and the cells it had put are
    // taken back (a column holds at most one value per row), so no partial row is left behind.
    let n = 0
    let rowsRejected = false
    for (let k = 0; k < docs.length; k++) {
      const index = kept[k] as number
      try {
        this.#fill(schema, docs[k] as Record<string, unknown>, records?.[index], offsets[index] as number, partition, n, put)
        n++
      } catch (err) {
        for (let c = 0; c < columns.length; c++) {
          const def = defined[c] as Uint8Array
          if (def[n] === 1) {
            def[n] = 0
            ;(columnValues[c] as Array<string | number | boolean>).pop()
          }
        }
        rejected.push({ index, reason: unencodable('parquet', err) })
        rowsRejected = true
      }
    }
    if (rowsRejected) rejected.sort((a, b) => a.index - b.index)
    if (n === 0) return { data: Buffer.alloc(0), rejected }

    const pages: Buffer[] = []
    const chunkColumns: ColumnPages[] = columns.map((column, c) => {
      const out: ColumnPages = { pages: [], numValues: n, nullCount: 0, uncompressed: 0, compressed: 0 }
      const def = defined[c] as Uint8Array
      const vals = columnValues[c] as Array<string | number | boolean>
      let v = 0
      for (let from = 0; from < n; from += PAGE_ROWS) {
        const to = Math.min(n, from + PAGE_ROWS)
        let present = 0
        for (let r = from; r < to; r++) present += def[r] as number
        const levels = definitionLevels(def, from, to)
        const body = plainValues(column.physical, vals, v, v + present, levels)
        v += present
        const compressed = this.#compress(body)
        const header = serializeThrift(new thrift.PageHeader({
          type: thrift.PageType.DATA_PAGE,
          uncompressed_page_size: body.length,
          compressed_page_size: compressed.length,
          data_page_header: new thrift.DataPageHeader({
            num_values: to - from,
            encoding: thrift.Encoding.PLAIN,
            definition_level_encoding: thrift.Encoding.RLE,
            repetition_level_encoding: thrift.Encoding.RLE
          })
        }))
        out.nullCount += (to - from) - present
        out.uncompressed += header.length + body.length
        out.compressed += header.length + compressed.length
        pages.push(header, compressed)
        out.pages.push(header, compressed)
      }
      if (isNumeric(column.physical) && vals.length > 0) {
        let min = vals[0] as number
        let max = min
        for (const x of vals as number[]) {
          if (x < min) min = x
          if (x > max) max = x
        }
        out.min = min
        out.max = max
      }
      return out
    })
    // One buffer for the group; the column pages become views of it, so memory is counted once.
    const data = Buffer.concat(pages)
    let pos = 0
    for (const column of chunkColumns) {
      column.pages = column.pages.map((page) => {
        const view = data.subarray(pos, pos + page.length)
        pos += page.length
        return view
      })
    }
    const encodedBytes = chunkColumns.reduce((sum, column) => sum + column.uncompressed, 0)
    return { data, rejected, encodedBytes, layout: new ParquetChunk(schema, this.#codec, this.#rowGroupBytes, n, chunkColumns) }
  }

  /** Puts one record's cells into row `row` (absent and null cells left out). */
  #fill (schema: ParquetSchema, doc: Record<string, unknown>, record: ParsedRecord | undefined, offset: number, partition: number,
    row: number, put: (c: number, row: number, value: string | number | boolean) => void): void {
    const columns = schema.columns
    const extraIndex = columns.length - 1
    let extra: Record<string, unknown> | undefined
    let c = 0
    if (schema.wrap) {
      const m = kafkaMeta(record, offset, partition)
      put(0, row, m.offset)
      put(1, row, m.partition)
      if (m.key !== null) put(2, row, m.key)
      if (m.timestamp !== null) put(3, row, m.timestamp)
      put(4, row, m.headersJson)
      c = 5
    }
    for (; c < extraIndex; c++) {
      const column = columns[c] as ParquetColumn
      const value = (column.get as (doc: object) => unknown)(doc)
      if (value === MISSING || value === null || value === undefined) continue
      const fitted = fit(column.type, value)
      if (fitted === MISFIT) {
        extra ??= Object.create(null) as Record<string, unknown>
        extra[column.name] = value
      } else {
        put(c, row, fitted)
      }
    }
    if (schema.inferred) {
      for (const key of Object.keys(doc)) {
        if (schema.names.has(key)) continue
        extra ??= Object.create(null) as Record<string, unknown>
        extra[key] = doc[key]
      }
    }
    if (extra !== undefined) put(extraIndex, row, JSON.stringify(extra))
  }

  #schema (dir: string, docs: Array<Record<string, unknown>>): ParquetSchema {
    if (this.#configured !== undefined) return this.#configured
    let schema = this.#inferred.get(dir)
    if (schema !== undefined) {
      this.#inferred.delete(dir) // most recently used goes last
    } else {
      schema = inferSchema(docs, this.#wrap)
      if (this.#inferred.size >= MAX_SCHEMAS) this.#inferred.delete(this.#inferred.keys().next().value as string)
    }
    this.#inferred.set(dir, schema)
    return schema
  }
}

/** Builds one Parquet file in the sink from the chunks of one schema (see the header comment). */
export class ParquetFileBuilder implements FileBuilder {
  readonly #schema: ParquetSchema
  readonly #codec: number
  readonly #rowGroupBytes: number
  #started = false
  #columns: ColumnPages[]
  #rows = 0
  #held = 0
  #totalRows = 0
  readonly #rowGroups: object[] = []

  constructor (schema: ParquetSchema, codec: PageCodec, rowGroupBytes: number) {
    this.#schema = schema
    this.#codec = CODEC_ID[codec]
    this.#rowGroupBytes = rowGroupBytes
    this.#columns = this.#emptyColumns()
  }

  get heldBytes (): number {
    return this.#held
  }

  append (group: EncodedGroup, fileOffset: number): Buffer[] {
    const chunk = group.layout as ParquetChunk
    const out = this.#start()
    chunk.columns.forEach((source, c) => {
      const target = this.#columns[c] as ColumnPages
      for (const page of source.pages) target.pages.push(page)
      target.numValues += source.numValues
      target.nullCount += source.nullCount
      target.uncompressed += source.uncompressed
      target.compressed += source.compressed
      if (source.min !== undefined && (target.min === undefined || source.min < target.min)) target.min = source.min
      if (source.max !== undefined && (target.max === undefined || source.max > target.max)) target.max = source.max
    })
    this.#rows += chunk.rows
    this.#held += group.data.length
    if (this.#held >= this.#rowGroupBytes) this.#rowGroup(out, fileOffset + (out.length > 0 ? MAGIC.length : 0))
    return out
  }

  finish (fileOffset: number): Buffer[] {
    const out = this.#start()
    let offset = fileOffset + (out.length > 0 ? MAGIC.length : 0)
    if (this.#rows > 0) offset = this.#rowGroup(out, offset)
    const schema = this.#schema
    const metadata = serializeThrift(new thrift.FileMetaData({
      version: 1,
      schema: [
        new thrift.SchemaElement({ name: 'schema', num_children: schema.columns.length }),
        ...schema.columns.map((column) => new thrift.SchemaElement({
          name: column.name,
          type: thrift.Type[column.physical],
          repetition_type: thrift.FieldRepetitionType.OPTIONAL,
          ...(column.converted === undefined ? {} : { converted_type: thrift.ConvertedType[column.converted] })
        }))
      ],
      num_rows: this.#totalRows,
      row_groups: this.#rowGroups,
      created_by: 'sediment'
    }))
    const tail = Buffer.allocUnsafe(8)
    tail.writeUInt32LE(metadata.length, 0)
    MAGIC.copy(tail, 4)
    out.push(metadata, tail)
    return out
  }

  #start (): Buffer[] {
    if (this.#started) return []
    this.#started = true
    return [MAGIC]
  }

  #emptyColumns (): ColumnPages[] {
    return this.#schema.columns.map(() => ({ pages: [], numValues: 0, nullCount: 0, uncompressed: 0, compressed: 0 }))
  }

  /** Writes the collected pages as a row group at `offset` into `out`; returns the offset after it. */
  #rowGroup (out: Buffer[], offset: number): number {
    const chunks: object[] = []
    let totalBytes = 0
    this.#schema.columns.forEach((column, c) => {
      const pages = this.#columns[c] as ColumnPages
      const statistics: Record<string, unknown> = { null_count: pages.nullCount }
      if (pages.min !== undefined && pages.max !== undefined) {
        statistics.min_value = plainStatistic(column.physical, pages.min)
        statistics.max_value = plainStatistic(column.physical, pages.max)
      }
      const meta = new thrift.ColumnMetaData({
        type: thrift.Type[column.physical],
        encodings: [thrift.Encoding.PLAIN, thrift.Encoding.RLE],
        path_in_schema: [column.name],
        codec: this.#codec,
        num_values: pages.numValues,
        total_uncompressed_size: pages.uncompressed,
        total_compressed_size: pages.compressed,
        data_page_offset: offset,
        statistics: new thrift.Statistics(statistics)
      })
      for (const page of pages.pages) out.push(page)
      offset += pages.compressed
      // Like parquet-mr and parquetjs, the column metadata also follows its pages (ColumnChunk.file_offset).
      const inline = serializeThrift(meta)
      chunks.push(new thrift.ColumnChunk({ file_offset: offset, meta_data: meta }))
      out.push(inline)
      offset += inline.length
      totalBytes += pages.uncompressed
    })
    this.#rowGroups.push(new thrift.RowGroup({ columns: chunks, total_byte_size: totalBytes, num_rows: this.#rows }))
    this.#totalRows += this.#rows
    this.#rows = 0
    this.#held = 0
    this.#columns = this.#emptyColumns()
    return offset
  }
}

function isNumeric (physical: Physical): boolean {
  return physical === 'INT32' || physical === 'INT64' || physical === 'FLOAT' || physical === 'DOUBLE'
}

function pageCompressor (codec: PageCodec, level: number | undefined): (body: Buffer) => Buffer {
  switch (codec) {
    case 'none': return (body) => body
    case 'snappy': return snappyCompress
    case 'gzip': return (body) => gzipSync(body, { level: level ?? 6 })
    case 'zstd': return zstdSync(level ?? ZSTD_DEFAULT_LEVEL)
  }
}

/**
 * Definition levels of rows [from, to) (bit width 1) in the RLE/bit-packed hybrid with its 4-byte length prefix
 * (data page v1): one RLE run when all rows agree, else bit-packed groups of 8.
 */
function definitionLevels (defined: Uint8Array, from: number, to: number): Buffer {
  const n = to - from
  let same = true
  for (let r = from + 1; r < to && same; r++) same = defined[r] === defined[from]
  if (same) {
    const header = varint(n << 1)
    const out = Buffer.allocUnsafe(4 + header.length + 1)
    out.writeUInt32LE(header.length + 1, 0)
    header.copy(out, 4)
    out[4 + header.length] = defined[from] as number
    return out
  }
  const groups = Math.ceil(n / 8)
  const header = varint((groups << 1) | 1)
  const out = Buffer.alloc(4 + header.length + groups)
  out.writeUInt32LE(header.length + groups, 0)
  header.copy(out, 4)
  const base = 4 + header.length
  for (let i = 0; i < n; i++) if (defined[from + i] === 1) out[base + (i >>> 3)] |= 1 << (i & 7)
  return out
}

function varint (n: number): Buffer {
  const bytes: number[] = []
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  bytes.push(n)
  return Buffer.from(bytes)
}

/** PLAIN-encoded values [from, to) after `prefix` (the levels), in one buffer: the page body. */
function plainValues (physical: Physical, values: Array<string | number | boolean>, from: number, to: number, prefix: Buffer): Buffer {
  const count = to - from
  let size: number
  switch (physical) {
    case 'BOOLEAN': size = Math.ceil(count / 8); break
    case 'INT32': case 'FLOAT': size = 4 * count; break
    case 'INT64': case 'DOUBLE': size = 8 * count; break
    case 'BYTE_ARRAY':
      size = 4 * count
      for (let i = from; i < to; i++) size += Buffer.byteLength(values[i] as string)
      break
  }
  const out = Buffer.alloc(prefix.length + size)
  prefix.copy(out, 0)
  let pos = prefix.length
  switch (physical) {
    case 'BOOLEAN':
      for (let i = 0; i < count; i++) if (values[from + i] === true) out[pos + (i >>> 3)] |= 1 << (i & 7)
      break
    case 'INT32':
      for (let i = from; i < to; i++) pos = out.writeInt32LE(values[i] as number, pos)
      break
    case 'FLOAT':
      for (let i = from; i < to; i++) pos = out.writeFloatLE(values[i] as number, pos)
      break
    case 'DOUBLE':
      for (let i = from; i < to; i++) pos = out.writeDoubleLE(values[i] as number, pos)
      break
    case 'INT64':
      for (let i = from; i < to; i++) pos = writeInt64(out, values[i] as number, pos)
      break
    case 'BYTE_ARRAY':
      for (let i = from; i < to; i++) {
        const text = values[i] as string
        const length = out.write(text, pos + 4, 'utf8')
        out.writeUInt32LE(length, pos)
        pos += 4 + length
      }
      break
  }
  return out
}

/** A safe integer as 64-bit two's complement, little-endian (no BigInt per value). */
function writeInt64 (out: Buffer, n: number, pos: number): number {
  const lo = n >>> 0
  const hi = Math.floor(n / 4294967296)
  out.writeUInt32LE(lo, pos)
  out.writeInt32LE(hi, pos + 4)
  return pos + 8
}

function plainStatistic (physical: Physical, n: number): Buffer {
  const out = Buffer.alloc(physical === 'INT32' || physical === 'FLOAT' ? 4 : 8)
  if (physical === 'INT32') out.writeInt32LE(n, 0)
  else if (physical === 'FLOAT') out.writeFloatLE(n, 0)
  else if (physical === 'DOUBLE') out.writeDoubleLE(n, 0)
  else writeInt64(out, n, 0)
  return out
}

/** Error groups of a Parquet output are JSON lines: which stream codec they use. */
export function errorCodecFor (codec: PageCodec): 'gzip' | 'zstd' | 'none' {
  return codec === 'snappy' ? 'gzip' : codec
}
