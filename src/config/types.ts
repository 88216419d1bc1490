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

/**
 * Parser limits, shared by the config validator and the parse stage so that a library user of parseStage gets
 * the same defaults as the service.
 */
export const ParserLimits = {
  /** Default of parser.maxMessageBytes: 8 MiB. */
  DEFAULT_MAX_MESSAGE_BYTES: 8 * 1024 * 1024,
  /** Smallest allowed parser.maxMessageBytes (a lower value is almost certainly a unit mistake). */
  MIN_MAX_MESSAGE_BYTES: 1024,
  /** Default of parser.timestampBounds.maxFutureSeconds: 7 days. */
  DEFAULT_MAX_FUTURE_SECONDS: 7 * 24 * 3600
} as const

/**
 * Plausibility bounds on the event time (both parser types). A record outside them goes to the error output:
 * such times are nearly always producer bugs (a wrong clock or unit, a placeholder like 2099-12-31), and as good
 * records they would create stray directories and push the event-time watermark into the future.
 */
export interface TimestampBoundsConfig {
  /**
   * ISO-8601 date or date-time (`2020-01-01`, `2020-01-01T00:00:00Z`; no offset means UTC). Event times before it
   * are errors. Unset (the default): no lower bound, except that times before 1970 are always errors.
   */
  notBefore?: string
  /**
   * Event times more than this many seconds after the current time (read once per batch) are errors.
   * Default 604800 (7 days). `0` disables the check; an empty value (`null`) means the default, as everywhere.
   */
  maxFutureSeconds: number
}

export interface ParserConfig {
  type: ParserType
  /** Dotted path of the timestamp field for `json`, e.g. `meta.ts`. */
  timestampField: string
  /**
   * Values longer than this (bytes) go to the error output unparsed, whole. Default 8 MiB, at least 1024.
   * Tombstones (null values) are errors regardless.
   */
  maxMessageBytes: number
  timestampBounds: TimestampBoundsConfig
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
  /**
   * s3: a request whose connection is silent this long fails (and is retried); without it one unanswered
   * request would stall its partition forever.
   */
  socketTimeoutMs?: number
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
