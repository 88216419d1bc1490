/**
 * The service configuration: what a config file (YAML or JSON) holds after validation and defaults.
 * `src/config/options.ts` validates raw input into this shape; everything downstream trusts it.
 */

export const ParserTypes = ['json', 'kafka-timestamp'] as const
export type ParserType = (typeof ParserTypes)[number]

export const Compressions = ['gzip', 'none'] as const
export type Compression = (typeof Compressions)[number]

export const OutputFormats = ['jsonl'] as const
export type OutputFormat = (typeof OutputFormats)[number]

export const SinkTypes = ['s3', 'file'] as const
export type SinkType = (typeof SinkTypes)[number]

export const OffsetResets = ['earliest', 'latest'] as const
export type OffsetReset = (typeof OffsetResets)[number]

export const LogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LogLevels)[number]

export interface KafkaConfig {
  brokers: string[]
  groupId: string
  clientId: string
  /** Exactly one of topics / topicPattern is set. */
  topics?: string[]
  /** A regular expression source (no slashes), e.g. `^logs\\..*`. */
  topicPattern?: string
  autoOffsetReset: OffsetReset
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  rebalanceTimeoutMs: number
  /** Max bytes fetched per partition per request. */
  maxBytesPerPartition: number
  ssl: boolean
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username: string, password: string }
  connectionTimeoutMs: number
}

export interface ParserConfig {
  type: ParserType
  /** Dotted path of the timestamp field for `json`, e.g. `meta.ts`. */
  timestampField: string
}

export interface PartitionConfig {
  /** Output path template below the topic, e.g. `dt={YYYY}-{MM}-{DD}/hr={HH}`. */
  template: string
  /** IANA time zone name, e.g. `UTC` or `Europe/Berlin`. */
  timezone: string
}

export interface OutputConfig {
  format: OutputFormat
  compression: Compression
  /** gzip level 1..9. */
  compressionLevel: number
}

export interface UploadConfig {
  /** Cut all open files of a Kafka partition when their raw (uncompressed input) bytes reach this. */
  maxFileBytes: number
  /** ...or when its oldest open file is this old (wall clock). */
  maxFileAgeSeconds: number
  /** On SIGTERM: true = cut, upload and commit what is buffered; false = discard it (it is re-read later). */
  uploadOnShutdown: boolean
  /** Multipart part size in bytes (>= 5 MiB, as S3 requires for all but the last part). */
  partSizeBytes: number
  /** Parts uploading at once across the whole process. */
  maxConcurrentParts: number
  /** Compressed bytes held in memory, process-wide, before the sink stops accepting input (backpressure). */
  maxBufferedBytes: number
}

export interface SinkConfig {
  type: SinkType
  /** s3 */
  bucket?: string
  prefix: string
  endpoint?: string
  region: string
  forcePathStyle: boolean
  /** Only from env (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or the config; otherwise the AWS default chain. */
  credentials?: { accessKeyId: string, secretAccessKey: string, sessionToken?: string }
  /** file */
  directory?: string
}

export interface SedimentConfig {
  kafka: KafkaConfig
  parser: ParserConfig
  partition: PartitionConfig
  output: OutputConfig
  upload: UploadConfig
  sink: SinkConfig
  /** Layout generation, the first element of every object name; bump it to re-export into a fresh namespace. */
  generation: number
  log: { level: LogLevel }
}
