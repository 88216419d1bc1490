import type { Logger } from 'pino'
import type { FallbackPolicy, HeaderEncoding, ParserType, SplitMode, TimestampUnit } from '../../config/types.js'
import type { ParserModule } from './custom-module-api.js'
import type { DateMatch } from './date-pattern.js'
import type { ThriftProtocol } from './thrift-codec.js'

/**
 * What a parser is built from: the `parser` section of the config (a validated ParserConfig is assignable to
 * it) plus what only a library user can pass. Relative file paths (`module`, `protobuf.file`,
 * `avro.schemaFile`) are resolved against `baseDir`, default the current directory; `loadConfig` resolves them
 * against the config file's directory beforehand.
 */
export interface ParserOptions {
  type: ParserType
  /**
   * kafka-timestamp and header: accept values with line breaks, because the output frames records by length
   * (raw output with length-prefixed framing). Default false: line-framed output cannot hold them, so such a
   * value is an error record.
   */
  keepLineBreaks?: boolean
  /**
   * Dotted path of the event-time field (json, msgpack, protobuf, avro), or the name of the regex group
   * holding it (regex). Default `timestamp` (the json parser requires it to be given explicitly in the stage).
   */
  timestampField?: string
  /** Date pattern for string timestamps (`yyyy-MM-dd HH:mm:ss`, see date-pattern.ts); unset: ISO-8601 or digits. */
  timestampFormat?: string
  /** `full` (default): the whole string must match timestampFormat; `prefix`: trailing text is ignored (Secor/SimpleDateFormat). */
  timestampMatch?: DateMatch
  /** IANA zone of zone-less `timestampFormat` times (default UTC). ISO-8601 strings without an offset stay UTC. */
  timezone?: string
  /**
   * Unit of numeric timestamps (numbers and digit strings): `s`, `ms`, `us`, `ns`, or `auto` (default) by magnitude
   * (< 1e11 s, < 1e14 ms, < 1e17 µs, else ns; so ms after the year 5138, or µs before 1973, are misread).
   */
  timestampUnit?: TimestampUnit
  /** What to do when a message has no timestamp (field absent or null, header absent, group unmatched). */
  fallback?: { policy: FallbackPolicy, date?: string }
  /**
   * Values for partition template tokens: token name → dotted path in the decoded record (json, msgpack,
   * protobuf, avro, custom), regex group name (regex), or Kafka header name (kafka-timestamp, header).
   */
  fields?: Readonly<Record<string, string>>
  /** `lines`: a message holds newline-delimited records, each parsed on its own (text parsers only). */
  split?: SplitMode
  /**
   * A custom module: a file path (parse for type `custom`, transform for the others), or — library only — the
   * module object itself.
   */
  module?: string | ParserModule
  header?: { name: string, encoding?: HeaderEncoding }
  regex?: { pattern: string, flags?: string }
  protobuf?: { file: string, messageType: string }
  avro?: { schemaFile?: string, registryUrl?: string }
  /** type thrift: TBinaryProtocol (default) or TCompactProtocol; timestampField is a dotted path of field ids. */
  thrift?: { protocol?: ThriftProtocol }
  /** Directory relative paths are resolved against (default process.cwd()). */
  baseDir?: string
  /** Schema-registry retries and module messages are logged here (component `parser`). */
  logger?: Logger
  /**
   * Aborting it (service shutdown) ends schema-registry retries: the waiting batch then fails the pipeline
   * instead of blocking shutdown (its offsets are not committed, so nothing is lost).
   */
  signal?: AbortSignal
}
