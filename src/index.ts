/**
 * Sediment as a library. A pipeline is composed with `stream/promises` `pipeline`:
 *
 *   const source = kafkaSource({ brokers, groupId, topics: ['logs'], logger })
 *   const done = pipeline(source, parseJson({ timestampField: 'ts' }), partitionByTime(), compress(),
 *                         s3Sink({ committer: source, bucket: 'my-bucket', prefix: 'raw', logger }))
 *   await source.start()
 *   // later, to stop: source.endInput(); await done; await source.close()
 *
 * The sink commits offsets through the source (`committer`), so the two must be the same consumer.
 */
import { encodeStage, type EncodeOptions } from './stages/encode.js'
import { parseStage, type ParseOptions, type ParseStage } from './stages/parse.js'
import { partitionStage, type PartitionOptions, type PartitionStage } from './stages/partition.js'

export { kafkaSource, KafkaSource, type KafkaSourceOptions } from './sources/kafka-source.js'
export { parseStage, partitionStage, encodeStage, toEpochMillis, Reasons, ERRORS_DIR, DEFAULT_TEMPLATE } from './stages/index.js'
export type { ParseOptions, PartitionOptions, EncodeOptions } from './stages/index.js'
export type { ParserOptions } from './stages/parsers/parser-options.js'
export type { ParserModule, ParserMessage, CustomRecord, TransformInput, CustomParse, CustomTransform } from './stages/parsers/custom-module-api.js'
export { compileDatePattern, type DatePattern } from './stages/parsers/date-pattern.js'
export { s3Sink, type S3SinkOptions } from './sinks/s3-sink.js'
export { fileSink, type FileSinkOptions } from './sinks/file-sink.js'
export { ObjectSink, type ObjectSinkOptions, type SinkStats } from './sinks/object-sink.js'
export { S3Store, type S3StoreOptions } from './sinks/s3-store.js'
export { FileStore } from './sinks/file-store.js'
export type { ObjectStore, UploadedPart } from './sinks/object-store.js'
export type { CommitEvent, CutReason } from './sinks/commit-protocol.js'
export type { CommitMetadata, CutRecord, CutFile } from './sinks/layout.js'
export { runService, createStore, type ServiceOptions } from './service.js'
export { Finalizer, LateDataMonitor, GlueCatalog, HiveCatalog, QuboleCatalog, type FinalizeReport, type Catalog, type CatalogPartition, type LateData } from './finalizer/index.js'
export { restore, connectTarget, type RestoreOptions, type RestoreStats, type RestoreRange, type RestoreTarget } from './restore/index.js'
export { validateConfig, applyEnvOverrides } from './config/options.js'
export { loadConfig } from './config/load.js'
export type { SedimentConfig, OutputFormat, Compression, ParquetType, RawFraming } from './config/types.js'
export { createLogger } from './logger.js'
export { SedimentError, ConfigError, FencedError, ErrorCodes, type ErrorCode } from './errors.js'
export type * from './types.js'

/**
 * Parse stage for JSON messages: event time from `timestampField` (dotted path; s/ms/µs/ns or ISO-8601).
 * Also takes `maxMessageBytes` and `timestampBounds` (see ParseOptions).
 */
export function parseJson (options: Omit<ParseOptions, 'type'> = {}): ParseStage {
  return parseStage({ ...options, type: 'json', timestampField: options.timestampField ?? 'timestamp' })
}

/** Parse stage that takes event time from the Kafka record timestamp. */
export function parseKafkaTimestamp (options: Omit<ParseOptions, 'type' | 'timestampField'> = {}): ParseStage {
  return parseStage({ ...options, type: 'kafka-timestamp' })
}

type ParserHelperOptions<K extends keyof ParseOptions> = Omit<ParseOptions, 'type' | K> & Required<Pick<ParseOptions, K>>

/** Parse stage for opaque values whose event time is in a Kafka header: `parseHeader({ header: { name: 'ts' } })`. */
export function parseHeader (options: ParserHelperOptions<'header'>): ParseStage {
  return parseStage({ ...options, type: 'header' })
}

/**
 * Parse stage for text lines matched by a regular expression; event time from the named group `timestampField`
 * (default `timestamp`), e.g. `parseRegex({ regex: { pattern: '^(?<timestamp>\\S+) ' }, timestampFormat: 'yyyy-MM-dd HH:mm:ss' })`.
 */
export function parseRegex (options: ParserHelperOptions<'regex'>): ParseStage {
  return parseStage({ ...options, type: 'regex' })
}

/** Parse stage for MessagePack maps; event time from `timestampField` (default `timestamp`). */
export function parseMsgpack (options: Omit<ParseOptions, 'type'> = {}): ParseStage {
  return parseStage({ ...options, type: 'msgpack' })
}

/** Parse stage for Protobuf messages: `parseProtobuf({ protobuf: { file: 'event.proto', messageType: 'shop.Event' } })`. */
export function parseProtobuf (options: ParserHelperOptions<'protobuf'>): ParseStage {
  return parseStage({ ...options, type: 'protobuf' })
}

/** Parse stage for Avro: `{ avro: { schemaFile } }` (plain binary) or `{ avro: { registryUrl } }` (Confluent wire format). */
export function parseAvro (options: ParserHelperOptions<'avro'>): ParseStage {
  return parseStage({ ...options, type: 'avro' })
}

/** Parse stage run by your own parse function (see ParserModule): `parseCustom({ module: { parse: m => ... } })`. */
export function parseCustom (options: ParserHelperOptions<'module'>): ParseStage {
  return parseStage({ ...options, type: 'custom' })
}

/** Routes records to `dt=YYYY-MM-DD/hr=HH` (or your template) directories in the given time zone. */
export function partitionByTime (options: PartitionOptions = {}): PartitionStage {
  return partitionStage(options)
}

/** JSON-lines encoding with gzip (default level 6), zstd (default level 3) or no compression. */
export function compress (options: Partial<Pick<EncodeOptions, 'compression' | 'compressionLevel' | 'wrap'>> = {}): ReturnType<typeof encodeStage> {
  const compression = options.compression ?? 'gzip'
  return encodeStage({ ...options, format: 'jsonl', compression, compressionLevel: options.compressionLevel ?? (compression === 'gzip' ? 6 : undefined) })
}

/**
 * Encoding in any output format (see the README's table): `encode({ format: 'parquet' })` (snappy pages, schema
 * inferred), `encode({ format: 'csv', columns: ['id', 'user.name'], compression: 'zstd' })`,
 * `encode({ format: 'raw', framing: 'length-prefixed' })`. Compression defaults to gzip, snappy for parquet.
 */
export function encode (options: Partial<EncodeOptions> & Pick<EncodeOptions, 'format'>): ReturnType<typeof encodeStage> {
  return encodeStage({ ...options, compression: options.compression ?? (options.format === 'parquet' ? 'snappy' : 'gzip') })
}
