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
export { s3Sink, type S3SinkOptions } from './sinks/s3-sink.js'
export { fileSink, type FileSinkOptions } from './sinks/file-sink.js'
export { ObjectSink, type ObjectSinkOptions, type SinkStats } from './sinks/object-sink.js'
export { S3Store, type S3StoreOptions } from './sinks/s3-store.js'
export { FileStore } from './sinks/file-store.js'
export type { ObjectStore, UploadedPart } from './sinks/object-store.js'
export type { CommitEvent, CutReason } from './sinks/commit-protocol.js'
export type { CommitMetadata, CutRecord, CutFile } from './sinks/layout.js'
export { runService, createStore, type ServiceOptions } from './service.js'
export { validateConfig, applyEnvOverrides } from './config/options.js'
export { loadConfig } from './config/load.js'
export type { SedimentConfig } from './config/types.js'
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

/** Routes records to `dt=YYYY-MM-DD/hr=HH` (or your template) directories in the given time zone. */
export function partitionByTime (options: PartitionOptions = {}): PartitionStage {
  return partitionStage(options)
}

/** JSON-lines encoding with gzip (default level 6) or no compression. */
export function compress (options: Partial<Pick<EncodeOptions, 'compression' | 'compressionLevel'>> = {}): ReturnType<typeof encodeStage> {
  return encodeStage({ format: 'jsonl', compression: options.compression ?? 'gzip', compressionLevel: options.compressionLevel ?? 6 })
}
