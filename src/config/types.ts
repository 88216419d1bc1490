/**
 * The service configuration: what a config file (YAML or JSON) holds after validation and defaults.
 * `src/config/options.ts` validates raw input into this shape; everything downstream trusts it.
 */

/** Parser types, see src/stages/parsers/ (README "Parsers"). */
export const ParserTypes = ['json', 'kafka-timestamp', 'header', 'regex', 'msgpack', 'protobuf', 'avro', 'thrift', 'custom'] as const
export type ParserType = (typeof ParserTypes)[number]

/** What a message without a timestamp becomes: an error record (default), or a record at its Kafka timestamp or a fixed date. */
export const FallbackPolicies = ['error', 'kafka-timestamp', 'fixed'] as const
export type FallbackPolicy = (typeof FallbackPolicies)[number]

/**
 * Unit of numeric event times (numbers and digit strings). `auto` (default) reads it from the magnitude:
 * < 1e11 seconds, < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds.
 */
export const TimestampUnits = ['auto', 's', 'ms', 'us', 'ns'] as const
export type TimestampUnit = (typeof TimestampUnits)[number]

/** `lines`: a message value holds newline-delimited records (text parsers only). */
export const SplitModes = ['none', 'lines'] as const
export type SplitMode = (typeof SplitModes)[number]

/** How a timestamp header is encoded: text (digits by magnitude or ISO-8601, or parser.timestampFormat) or an 8-byte big-endian integer. */
export const HeaderEncodings = ['text', 'int64be'] as const
export type HeaderEncoding = (typeof HeaderEncodings)[number]

/** `snappy` is for Parquet only (its pages are compressed; the file itself is not). */
export const Compressions = ['gzip', 'zstd', 'snappy', 'none'] as const
export type Compression = (typeof Compressions)[number]

/** `csv`: delimited text (any one-character delimiter), no header. `raw`: the message bytes, framed. */
export const OutputFormats = ['jsonl', 'csv', 'raw', 'parquet'] as const
export type OutputFormat = (typeof OutputFormats)[number]

/** How `raw` output separates records: a '\n' after each, or a 4-byte big-endian length before each. */
export const RawFramings = ['newline', 'length-prefixed'] as const
export type RawFraming = (typeof RawFramings)[number]

/** Column types of a Parquet schema (`timestamp`: milliseconds; `json`: any value as JSON text). */
export const ParquetTypes = ['string', 'int32', 'int64', 'double', 'float', 'boolean', 'timestamp', 'json'] as const
export type ParquetType = (typeof ParquetTypes)[number]

export const SinkTypes = ['s3', 'file', 'azure'] as const
export type SinkType = (typeof SinkTypes)[number]

export const OffsetResets = ['earliest', 'latest'] as const
export type OffsetReset = (typeof OffsetResets)[number]

export const IsolationLevels = ['read_committed', 'read_uncommitted'] as const
export type IsolationLevel = (typeof IsolationLevels)[number]

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
  /** With topicPattern: seconds between looks for new matching topics (0 = never). New ones are picked up without a restart. */
  topicRefreshSeconds: number
  autoOffsetReset: OffsetReset
  /** Transactional topics: read_committed (default) skips aborted records and waits for open transactions. */
  isolationLevel: IsolationLevel
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  rebalanceTimeoutMs: number
  /** Max bytes fetched per partition per request. */
  maxBytesPerPartition: number
  /** `true`: TLS with the system CAs; a mapping: TLS with its CA bundle, client certificate, server name. */
  ssl: boolean | KafkaTlsConfig
  sasl?: KafkaSaslConfig
  /** SASL without TLS is refused unless this is true (a trusted network only): it would expose the secret. */
  allowInsecureSasl?: boolean
  connectionTimeoutMs: number
}

/**
 * Kafka TLS (src/sources/kafka-security.ts). PEM from a file (`*File`) or inline (`ca`, `cert`, `key`, e.g. from
 * SEDIMENT_KAFKA_SSL_CA); not both. A client certificate needs its key (mTLS).
 */
export interface KafkaTlsConfig {
  caFile?: string
  ca?: string
  certFile?: string
  cert?: string
  keyFile?: string
  key?: string
  keyPassword?: string
  /** The name checked against the broker certificate (and sent as SNI) instead of the broker's host. */
  serverName?: string
}

export type KafkaSaslConfig =
  | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username: string, password: string }
  | KafkaOAuthBearerConfig
  | KafkaAwsIamConfig

/** SASL/OAUTHBEARER with tokens from an OAuth token endpoint (client credentials) or a command; exactly one. */
export interface KafkaOAuthBearerConfig {
  mechanism: 'oauthbearer'
  tokenEndpoint?: {
    url: string
    clientId: string
    clientSecret: string
    scope?: string
    audience?: string
    /** How the client authenticates: HTTP Basic (default, RFC 6749 2.3.1) or form fields in the body. */
    clientAuth: 'basic' | 'body'
  }
  /** argv; stdout is the token, or JSON with `access_token` (and `expires_in` seconds). */
  command?: string[]
  /** SASL extensions sent with the token (Confluent Cloud: logicalCluster, identityPoolId). */
  extensions?: Record<string, string>
  /** A token is replaced this long before it expires (at most half its lifetime). */
  refreshBeforeSeconds: number
}

/** Amazon MSK IAM: SASL/OAUTHBEARER with a SigV4-signed token from the AWS default credential chain. */
export interface KafkaAwsIamConfig {
  mechanism: 'aws'
  region: string
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
  /** Dotted path of the timestamp field (json, msgpack, protobuf, avro), e.g. `meta.ts`; regex: the group name. */
  timestampField: string
  /**
   * Values longer than this (bytes) go to the error output unparsed, whole. Default 8 MiB, at least 1024.
   * Tombstones (null values) are errors regardless.
   */
  maxMessageBytes: number
  timestampBounds: TimestampBoundsConfig
  // The keys below are absent unless set (see src/stages/parsers/parser-options.ts for their meaning).
  /** Date pattern for string timestamps, e.g. `yyyy-MM-dd HH:mm:ss`; unset: ISO-8601 or digits by magnitude. */
  timestampFormat?: string
  /** `full` (default) or `prefix`: whether timestampFormat must match the whole value (see date-pattern.ts). */
  timestampMatch?: 'full' | 'prefix'
  /** IANA zone of zone-less timestampFormat times; default UTC. */
  timezone?: string
  /** Unit of numeric timestamps; unset: auto (by magnitude, see TimestampUnits). */
  timestampUnit?: TimestampUnit
  /** Unset: policy error. `date` (ISO-8601) only with policy fixed. */
  fallback?: { policy: FallbackPolicy, date?: string }
  /** Partition template token name → field path (regex: group name; kafka-timestamp/header: header name). */
  fields?: Record<string, string>
  /** Unset: none. */
  split?: SplitMode
  /** Custom module file (absolute once loaded by loadConfig): `parse` for type custom, `transform` for the others. */
  module?: string
  /** type header only. */
  header?: { name: string, encoding: HeaderEncoding }
  /** type regex only: a JavaScript regular expression with named groups; the timestamp is group `timestampField`. */
  regex?: { pattern: string, flags?: string }
  /** type protobuf only. */
  protobuf?: { file: string, messageType: string }
  /** type avro only: exactly one of schemaFile (plain Avro binary) or registryUrl (Confluent wire format). */
  avro?: { schemaFile?: string, registryUrl?: string }
  /** type thrift only: the protocol of the serialized struct (default binary, as Secor's). */
  thrift?: { protocol: 'binary' | 'compact' }
}

export interface PartitionConfig {
  /** Output path template below the topic, e.g. `dt={YYYY}-{MM}-{DD}/hr={HH}`. */
  template: string
  /** IANA time zone name, e.g. `UTC` or `Europe/Berlin`. */
  timezone: string
}

export interface OutputConfig {
  format: OutputFormat
  /** Default gzip; snappy for parquet. */
  compression: Compression
  /** gzip 1..9 (default 6), zstd 1..19 (default 3); unused by snappy and none. */
  compressionLevel: number
  /** Wrap each record with its Kafka offset, partition, key, timestamp and headers (jsonl, csv, parquet). */
  wrap?: boolean
  /** csv: the field paths written as columns, in order (required for csv). */
  columns?: string[]
  /** csv: one character, default ','. */
  delimiter?: string
  /** raw: default newline. */
  framing?: RawFraming
  /** parquet only. */
  parquet?: ParquetOutputConfig
}

export interface ParquetOutputConfig {
  /**
   * Column name (a field path; dots reach into nested objects) → type. Unset: inferred per output directory from
   * the first records, see src/stages/formats/parquet-schema.ts.
   */
  schema?: Record<string, ParquetType>
  /** Where `schema` was read from (JSON or YAML mapping), if from a file. */
  schemaFile?: string
  /** A row group is written once an open file holds this many compressed bytes (default 16 MiB). */
  rowGroupBytes: number
}

export interface UploadConfig {
  /** Cut all open files of a Kafka partition when their raw (uncompressed input) bytes reach this. */
  maxFileBytes: number
  /** ...or when its oldest open file is this old (wall clock). */
  maxFileAgeSeconds: number
  /** On SIGTERM: true = cut, upload and commit what is buffered; false = discard it (it is re-read later). */
  uploadOnShutdown: boolean
  /**
   * On SIGTERM, the final cuts get this long; then every wait ends (unfinished cuts are abandoned and re-read
   * by the next owner), whatever the store or Kafka answer. Keep it below the orchestrator's grace period.
   */
  shutdownGraceSeconds: number
  /** Multipart part size in bytes (>= 5 MiB, as S3 requires for all but the last part). */
  partSizeBytes: number
  /** Parts uploading at once across the whole process. */
  maxConcurrentParts: number
  /** Compressed bytes held in memory, process-wide, before the sink stops accepting input (backpressure). */
  maxBufferedBytes: number
  /** Open files per Kafka partition; one more cuts the partition early (metric sediment_early_cuts_total). */
  maxOpenFilesPerPartition: number
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
  /** s3: flexible checksums ('when-supported', the default: a CRC32 on every body, checked by S3; see S3StoreOptions). */
  checksum?: 'when-supported' | 'when-required'
  /** s3: encryption, storage class, tags, ACL and assumed role (src/sinks/s3-access.ts); each absent unless set. */
  encryption?: S3AccessConfig['encryption']
  storageClass?: S3AccessConfig['storageClass']
  tags?: S3AccessConfig['tags']
  acl?: S3AccessConfig['acl']
  assumeRole?: S3AccessConfig['assumeRole']
  /** file */
  directory?: string
  /** azure (src/sinks/azure-options.ts): the container, and exactly one of a connection string or a container SAS URL. */
  container?: string
  connectionString?: string
  containerUrl?: string
}

export const S3StorageClasses = ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'] as const
export type S3StorageClass = (typeof S3StorageClasses)[number]

/** What S3 writes carry and who signs them (src/sinks/s3-access.ts). */
export interface S3AccessConfig {
  /** SSE-S3 (`aes256`) or SSE-KMS (`aws:kms`, with the bucket's default key unless `kmsKeyId`). */
  encryption?: { type: 'aes256' | 'aws:kms', kmsKeyId?: string, bucketKey?: boolean }
  /** Data files only (intents and manifests stay STANDARD: the protocol reads them back at once). */
  storageClass?: S3StorageClass
  /** Object tags on every object written (needs s3:PutObjectTagging). */
  tags?: Record<string, string>
  /** The canned ACL for cross-account buckets (Object Ownership "bucket owner preferred"). */
  acl?: 'bucket-owner-full-control'
  /** STS AssumeRole with the base credentials (sink.credentials or the default chain); refreshed before expiry. */
  assumeRole?: { roleArn: string, externalId?: string, sessionName: string, durationSeconds: number, region?: string, endpoint?: string }
}

/** Optional push of the metrics to OpenTSDB (`POST {url}/api/put`, JSON body). */
export interface OpenTsdbConfig {
  /** Base URL of a TSD, e.g. `http://opentsdb:4242` (`/api/put` is appended); no credentials in it. */
  url: string
  /** HTTP Basic authentication (for a TSD behind an authenticating proxy); both or neither. */
  username?: string
  password?: string
  intervalSeconds: number
  /** Added to every data point; `host` defaults to the machine's host name (OpenTSDB needs at least one tag). */
  tags: Record<string, string>
}

export interface LogConfig {
  level: LogLevel
  /** Readable lines for a person at a terminal instead of JSON (also `--pretty`). Default false. */
  pretty: boolean
  /** `run` logs a progress line (records/s, bytes/s, lag, open files, last commit age) this often; 0 = never. Default 30. */
  progressSeconds: number
}

/** The operations endpoints (`/metrics`, `/healthz`, `/readyz`) and what feeds them (see src/ops/). */
export interface MetricsConfig {
  /** false: no HTTP server, no lag checks and no OpenTSDB push. */
  enabled: boolean
  /** Address the HTTP server binds; loopback by default, `0.0.0.0` to expose it (e.g. to a Prometheus pod). */
  host: string
  /** 0 picks a free port (the bound address is logged). */
  port: number
  /** How often consumer lag is read from Kafka (group offsets and end offsets). */
  lagIntervalSeconds: number
  /** /readyz fails once uploads have failed without a single success for this long. */
  readyzUploadFailureSeconds: number
  opentsdb?: OpenTsdbConfig
}

export const CatalogTypes = ['none', 'hive', 'glue', 'qubole'] as const
export type CatalogType = (typeof CatalogTypes)[number]

/** Where `sediment finalize` registers finalized partitions (see src/finalizer/). */
export interface CatalogConfig {
  type: CatalogType
  /** Database (schema) of the tables. */
  database: string
  /** Table name; `{topic}` is replaced by the topic with non-identifier characters as `_`. */
  table: string
  /** Base of partition locations instead of `s3://{bucket}` (or `file://{directory}`), e.g. `s3a://bucket`. */
  locationPrefix?: string
  /** type hive: the command that runs the statement; `{sql}` in an argument is replaced by it, else it is appended. */
  hive?: { command: string[], timeoutSeconds: number }
  /** type glue; region defaults to sink.region. Credentials: the AWS SDK default chain. */
  glue?: { region?: string, endpoint?: string, catalogId?: string }
  /** type qubole: API base URL and the environment variable holding the API token (never in the file). */
  qubole?: { url: string, tokenEnv: string, pollSeconds: number, timeoutSeconds: number }
}

/** The partition finalizer: `_SUCCESS` markers and catalog registration of complete time partitions. */
export interface FinalizerConfig {
  /** A partition is final once every Kafka partition committed events this far past its end, or idled this long. */
  delaySeconds: number
  /** How many periods (template time units) back from now are considered on each run. */
  lookbackPeriods: number
  /** Between runs of `finalize --watch` and of the finalizer inside `run`. */
  intervalSeconds: number
  /** Also finalize inside `run`, on the member that owns partition 0 of the first topic. */
  inRun: boolean
  catalog: CatalogConfig
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
  /**
   * Pipelines run in parallel, each in a worker thread as its own consumer-group member with its own sink and S3
   * client (src/workers/). Default 1 (no worker threads); "auto": the cores the container may use (cgroup quota).
   */
  workers?: number | 'auto'
  log: LogConfig
  metrics: MetricsConfig
  /** Absent unless configured; `sediment finalize` then uses the defaults. */
  finalizer?: FinalizerConfig
  /** Absent unless configured: other parser, template, format or cut policy for some topics (first match wins). */
  topicOverrides?: TopicOverride[]
}

/**
 * Settings for the topics an override matches. Each section is complete (the top-level section with the
 * override's keys on top), so the pipeline uses it as is.
 */
export interface TopicOverride {
  /** Exactly one of topics / topicPattern. */
  topics?: string[]
  topicPattern?: string
  parser: ParserConfig
  partition: PartitionConfig
  output: OutputConfig
  /** Only the per-partition cut policy; the other upload settings are process-wide. */
  upload: Pick<UploadConfig, 'maxFileBytes' | 'maxFileAgeSeconds'>
}
