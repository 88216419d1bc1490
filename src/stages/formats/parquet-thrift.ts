import { createRequire } from 'node:module'

/**
 * The pieces of parquetjs-lite Sediment's Parquet writer uses: its generated Thrift structures of the Parquet
 * format, their compact serialization, and its snappy codec. The row-group and footer logic of its own
 * ParquetWriter assumes a whole file in one stream; Sediment builds pages in the encode stage and files in the
 * sink (see parquet-writer.ts), so it drives these directly.
 */
const require = createRequire(import.meta.url)

type ThriftStruct = new (args?: Record<string, unknown>) => object

interface ParquetTypes {
  Type: Record<'BOOLEAN' | 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY', number>
  ConvertedType: Record<'UTF8' | 'JSON' | 'TIMESTAMP_MILLIS', number>
  FieldRepetitionType: Record<'OPTIONAL', number>
  Encoding: Record<'PLAIN' | 'RLE', number>
  CompressionCodec: Record<'UNCOMPRESSED' | 'SNAPPY' | 'GZIP' | 'ZSTD', number>
  PageType: Record<'DATA_PAGE', number>
  Statistics: ThriftStruct
  PageHeader: ThriftStruct
  DataPageHeader: ThriftStruct
  ColumnMetaData: ThriftStruct
  ColumnChunk: ThriftStruct
  RowGroup: ThriftStruct
  SchemaElement: ThriftStruct
  FileMetaData: ThriftStruct
}

export const thrift = require('parquetjs-lite/gen-nodejs/parquet_types') as ParquetTypes

const util = require('parquetjs-lite/lib/util') as { serializeThrift: (obj: object) => Buffer }
const compression = require('parquetjs-lite/lib/compression') as { deflate: (method: 'SNAPPY', value: Buffer) => Buffer }

export const serializeThrift = util.serializeThrift

export function snappyCompress (data: Buffer): Buffer {
  const out = compression.deflate('SNAPPY', data)
  return Buffer.isBuffer(out) ? out : Buffer.from(out)
}
