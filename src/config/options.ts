/**
 * Validation of raw configuration (parsed YAML/JSON plus environment overrides) into a SedimentConfig.
 *
 * Hand-written on purpose: the shape is small, and every error must name the exact failing path
 * (`upload.maxFileBytes: must be an integer >= 1024, got "abc"`) so an operator can fix the file without
 * reading code. The first error wins; unknown keys are errors, because a typo that silently falls back to a
 * default (e.g. `maxFileByte`) is worse than a refusal to start.
 *
 * `null` counts as "not set": YAML turns an empty value (`endpoint:`) into null, and that should mean the default.
 */
import { ConfigError } from '../errors.js'
import { parseIso } from '../stages/timestamp.js'
import {
  Compressions,
  LogLevels,
  OffsetResets,
  OutputFormats,
  ParserLimits,
  ParserTypes,
  SinkTypes,
  type KafkaConfig,
  type OutputConfig,
  type ParserConfig,
  type PartitionConfig,
  type SedimentConfig,
  type SinkConfig,
  type TimestampBoundsConfig,
  type UploadConfig
} from './types.js'

const MiB = 1024 * 1024

export const defaults = {
  kafka: {
    clientId: 'sediment',
    autoOffsetReset: 'earliest',
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    rebalanceTimeoutMs: 60_000,
    maxBytesPerPartition: MiB,
    ssl: false,
    connectionTimeoutMs: 10_000
  },
  parser: {
    type: 'json',
    timestampField: 'timestamp',
    maxMessageBytes: ParserLimits.DEFAULT_MAX_MESSAGE_BYTES,
    timestampBounds: { maxFutureSeconds: ParserLimits.DEFAULT_MAX_FUTURE_SECONDS }
  },
  partition: { template: 'dt={YYYY}-{MM}-{DD}/hr={HH}', timezone: 'UTC' },
  output: { format: 'jsonl', compression: 'gzip', compressionLevel: 6 },
  upload: {
    maxFileBytes: 100 * MiB,
    maxFileAgeSeconds: 3600,
    uploadOnShutdown: true,
    partSizeBytes: 8 * MiB,
    maxConcurrentParts: 4,
    maxBufferedBytes: 256 * MiB
  },
  sink: { type: 's3', prefix: '', region: 'us-east-1', forcePathStyle: false, socketTimeoutMs: 30_000 },
  generation: 1,
  log: { level: 'info' }
} as const

/** S3 rejects multipart parts below 5 MiB (except the last) and above 5 GiB. */
const MIN_PART_BYTES = 5 * MiB
const MAX_PART_BYTES = 5 * 1024 * MiB

/** Tokens a partition template may use. */
export const TemplateTokens = ['YYYY', 'MM', 'DD', 'HH', 'mm', 'topic'] as const

const SaslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

// ---------------------------------------------------------------------------------------------------------------
// Environment overrides
// ---------------------------------------------------------------------------------------------------------------

/**
 * Environment variables that override config values (for containers), name → config path. Empty values count as
 * unset. The standard AWS_* variables (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_REGION, web identity, ...) need no
 * entry here: when sink.credentials is unset the AWS SDK default provider chain picks them up.
 */
export const envOverrides = {
  SEDIMENT_KAFKA_BROKERS: 'kafka.brokers',
  SEDIMENT_KAFKA_GROUP_ID: 'kafka.groupId',
  SEDIMENT_SINK_BUCKET: 'sink.bucket',
  SEDIMENT_SINK_ENDPOINT: 'sink.endpoint',
  SEDIMENT_SINK_REGION: 'sink.region',
  SEDIMENT_SINK_PREFIX: 'sink.prefix',
  SEDIMENT_SINK_ACCESS_KEY_ID: 'sink.credentials.accessKeyId',
  SEDIMENT_SINK_SECRET_ACCESS_KEY: 'sink.credentials.secretAccessKey',
  SEDIMENT_SINK_SESSION_TOKEN: 'sink.credentials.sessionToken',
  SEDIMENT_LOG_LEVEL: 'log.level'
} as const

export type EnvOverrideName = keyof typeof envOverrides

/** Plain strings set by path; brokers and credentials are handled on their own below. */
const simpleOverrides = [
  'SEDIMENT_KAFKA_GROUP_ID',
  'SEDIMENT_SINK_BUCKET',
  'SEDIMENT_SINK_ENDPOINT',
  'SEDIMENT_SINK_REGION',
  'SEDIMENT_SINK_PREFIX',
  'SEDIMENT_LOG_LEVEL'
] as const satisfies readonly EnvOverrideName[]

/** The override variables that are set (non-empty) in `env`. */
export function activeEnvOverrides (env: NodeJS.ProcessEnv): EnvOverrideName[] {
  return (Object.keys(envOverrides) as EnvOverrideName[]).filter(name => envValue(env, name) !== undefined)
}

/**
 * Returns a copy of `raw` with the SEDIMENT_* environment overrides applied. Pure: `raw` is not modified.
 * The result is still unvalidated; a section that is not a mapping is left alone so that validation reports it.
 */
export function applyEnvOverrides (raw: unknown, env: NodeJS.ProcessEnv): unknown {
  const root = cloneData(raw ?? {})
  if (!isPlainObject(root)) return root

  const brokers = envValue(env, 'SEDIMENT_KAFKA_BROKERS')
  if (brokers !== undefined) {
    setPath(root, envOverrides.SEDIMENT_KAFKA_BROKERS, brokers.split(',').map(b => b.trim()).filter(b => b !== ''))
  }

  for (const name of simpleOverrides) {
    const value = envValue(env, name)
    if (value !== undefined) setPath(root, envOverrides[name], value)
  }

  const credentials = envCredentials(env)
  // Replace the whole object, so a session token from the file never pairs with keys from the environment.
  if (credentials !== undefined) setPath(root, 'sink.credentials', credentials)

  return root
}

function envCredentials (env: NodeJS.ProcessEnv): SinkConfig['credentials'] {
  const accessKeyId = envValue(env, 'SEDIMENT_SINK_ACCESS_KEY_ID')
  const secretAccessKey = envValue(env, 'SEDIMENT_SINK_SECRET_ACCESS_KEY')
  const sessionToken = envValue(env, 'SEDIMENT_SINK_SESSION_TOKEN')
  if (accessKeyId === undefined && secretAccessKey === undefined) {
    if (sessionToken !== undefined) {
      throw new ConfigError('sink.credentials',
        'SEDIMENT_SINK_SESSION_TOKEN needs SEDIMENT_SINK_ACCESS_KEY_ID and SEDIMENT_SINK_SECRET_ACCESS_KEY')
    }
    return undefined
  }
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new ConfigError('sink.credentials',
      'SEDIMENT_SINK_ACCESS_KEY_ID and SEDIMENT_SINK_SECRET_ACCESS_KEY must be set together')
  }
  return sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken }
}

function envValue (env: NodeJS.ProcessEnv, name: EnvOverrideName): string | undefined {
  const value = env[name]
  return value === undefined || value === '' ? undefined : value
}

/** Sets a dotted path, creating missing (or null) sections; stops at a non-mapping so validation can report it. */
function setPath (root: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let node = root
  for (const key of keys.slice(0, -1)) {
    const next = node[key] ?? (node[key] = {})
    if (!isPlainObject(next)) return
    node = next
  }
  node[keys[keys.length - 1]!] = value
}

/** Deep copy of plain data (what YAML/JSON produce); anything else is kept by reference and rejected later. */
function cloneData (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData)
  if (isPlainObject(value)) {
    const copy: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      // defineProperty: a literal "__proto__" key from JSON must stay data, not become the prototype.
      Object.defineProperty(copy, key, { value: cloneData(item), enumerable: true, writable: true, configurable: true })
    }
    return copy
  }
  return value
}

// ---------------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------------

/**
 * Validates raw configuration, applies defaults and returns a new SedimentConfig that shares nothing with `raw`.
 * Throws ConfigError naming the first failing path.
 */
export function validateConfig (raw: unknown): SedimentConfig {
  const root = section(raw, '', ['kafka', 'parser', 'partition', 'output', 'upload', 'sink', 'generation', 'log'])
  return {
    kafka: kafkaConfig(root.kafka),
    parser: parserConfig(root.parser),
    partition: partitionConfig(root.partition),
    output: outputConfig(root.output),
    upload: uploadConfig(root.upload),
    sink: sinkConfig(root.sink),
    generation: withDefault(root.generation, 'generation', defaults.generation, integer(0)),
    log: logConfig(root.log)
  }
}

function kafkaConfig (raw: unknown): KafkaConfig {
  const path = 'kafka'
  const obj = section(raw, path, [
    'brokers', 'groupId', 'clientId', 'topics', 'topicPattern', 'autoOffsetReset', 'sessionTimeoutMs',
    'heartbeatIntervalMs', 'rebalanceTimeoutMs', 'maxBytesPerPartition', 'ssl', 'sasl', 'connectionTimeoutMs'
  ])
  const d = defaults.kafka
  const config: KafkaConfig = {
    brokers: required(obj.brokers, `${path}.brokers`, brokerList),
    groupId: required(obj.groupId, `${path}.groupId`, nonEmptyString),
    clientId: withDefault(obj.clientId, `${path}.clientId`, d.clientId, nonEmptyString),
    ...topicSelection(obj),
    autoOffsetReset: withDefault(obj.autoOffsetReset, `${path}.autoOffsetReset`, d.autoOffsetReset, oneOf(OffsetResets)),
    // Lower bounds catch seconds written where milliseconds are meant.
    sessionTimeoutMs: withDefault(obj.sessionTimeoutMs, `${path}.sessionTimeoutMs`, d.sessionTimeoutMs, integer(1000)),
    heartbeatIntervalMs: withDefault(obj.heartbeatIntervalMs, `${path}.heartbeatIntervalMs`, d.heartbeatIntervalMs, integer(100)),
    rebalanceTimeoutMs: withDefault(obj.rebalanceTimeoutMs, `${path}.rebalanceTimeoutMs`, d.rebalanceTimeoutMs, integer(1000)),
    maxBytesPerPartition: withDefault(obj.maxBytesPerPartition, `${path}.maxBytesPerPartition`, d.maxBytesPerPartition, integer(1)),
    ssl: withDefault(obj.ssl, `${path}.ssl`, d.ssl, boolean),
    connectionTimeoutMs: withDefault(obj.connectionTimeoutMs, `${path}.connectionTimeoutMs`, d.connectionTimeoutMs, integer(100))
  }
  const sasl = optional(obj.sasl, `${path}.sasl`, saslConfig)
  if (sasl !== undefined) config.sasl = sasl

  if (config.sessionTimeoutMs <= config.heartbeatIntervalMs) {
    throw new ConfigError(`${path}.sessionTimeoutMs`,
      `must exceed kafka.heartbeatIntervalMs (${config.heartbeatIntervalMs}), got ${config.sessionTimeoutMs}`)
  }
  return config
}

function topicSelection (obj: Record<string, unknown>): Pick<KafkaConfig, 'topics' | 'topicPattern'> {
  const hasTopics = !isAbsent(obj.topics)
  const hasPattern = !isAbsent(obj.topicPattern)
  if (hasTopics === hasPattern) {
    throw new ConfigError('kafka', `exactly one of topics or topicPattern is required${hasTopics ? ', got both' : ''}`)
  }
  return hasTopics
    ? { topics: topicList(obj.topics, 'kafka.topics') }
    : { topicPattern: topicPattern(obj.topicPattern, 'kafka.topicPattern') }
}

function saslConfig (raw: unknown, path: string): NonNullable<KafkaConfig['sasl']> {
  const obj = section(raw, path, ['mechanism', 'username', 'password'])
  return {
    mechanism: required(obj.mechanism, `${path}.mechanism`, oneOf(SaslMechanisms)),
    username: required(obj.username, `${path}.username`, nonEmptyString),
    password: required(obj.password, `${path}.password`, secretString)
  }
}

function parserConfig (raw: unknown): ParserConfig {
  const path = 'parser'
  const obj = section(raw, path, ['type', 'timestampField', 'maxMessageBytes', 'timestampBounds'])
  const d = defaults.parser
  return {
    type: withDefault(obj.type, `${path}.type`, d.type, oneOf(ParserTypes)),
    timestampField: withDefault(obj.timestampField, `${path}.timestampField`, d.timestampField, dottedPath),
    maxMessageBytes: withDefault(obj.maxMessageBytes, `${path}.maxMessageBytes`, d.maxMessageBytes, integer(ParserLimits.MIN_MAX_MESSAGE_BYTES)),
    timestampBounds: timestampBoundsConfig(obj.timestampBounds, `${path}.timestampBounds`)
  }
}

function timestampBoundsConfig (raw: unknown, path: string): TimestampBoundsConfig {
  const obj = section(raw, path, ['notBefore', 'maxFutureSeconds'])
  const notBefore = optional(obj.notBefore, `${path}.notBefore`, isoDate)
  return {
    ...(notBefore !== undefined ? { notBefore } : {}),
    // 0 disables the check (null cannot: an empty value means the default everywhere in this file).
    maxFutureSeconds: withDefault(obj.maxFutureSeconds, `${path}.maxFutureSeconds`, defaults.parser.timestampBounds.maxFutureSeconds, integer(0))
  }
}

function partitionConfig (raw: unknown): PartitionConfig {
  const path = 'partition'
  const obj = section(raw, path, ['template', 'timezone'])
  return {
    template: withDefault(obj.template, `${path}.template`, defaults.partition.template, pathTemplate),
    timezone: withDefault(obj.timezone, `${path}.timezone`, defaults.partition.timezone, timezone)
  }
}

function outputConfig (raw: unknown): OutputConfig {
  const path = 'output'
  const obj = section(raw, path, ['format', 'compression', 'compressionLevel'])
  const d = defaults.output
  return {
    format: withDefault(obj.format, `${path}.format`, d.format, oneOf(OutputFormats)),
    compression: withDefault(obj.compression, `${path}.compression`, d.compression, oneOf(Compressions)),
    compressionLevel: withDefault(obj.compressionLevel, `${path}.compressionLevel`, d.compressionLevel, integer(1, 9))
  }
}

function uploadConfig (raw: unknown): UploadConfig {
  const path = 'upload'
  const obj = section(raw, path, [
    'maxFileBytes', 'maxFileAgeSeconds', 'uploadOnShutdown', 'partSizeBytes', 'maxConcurrentParts', 'maxBufferedBytes'
  ])
  const d = defaults.upload
  const config: UploadConfig = {
    maxFileBytes: withDefault(obj.maxFileBytes, `${path}.maxFileBytes`, d.maxFileBytes, integer(1024)),
    maxFileAgeSeconds: withDefault(obj.maxFileAgeSeconds, `${path}.maxFileAgeSeconds`, d.maxFileAgeSeconds, integer(1)),
    uploadOnShutdown: withDefault(obj.uploadOnShutdown, `${path}.uploadOnShutdown`, d.uploadOnShutdown, boolean),
    partSizeBytes: withDefault(obj.partSizeBytes, `${path}.partSizeBytes`, d.partSizeBytes, integer(MIN_PART_BYTES, MAX_PART_BYTES)),
    maxConcurrentParts: withDefault(obj.maxConcurrentParts, `${path}.maxConcurrentParts`, d.maxConcurrentParts, integer(1)),
    maxBufferedBytes: withDefault(obj.maxBufferedBytes, `${path}.maxBufferedBytes`, d.maxBufferedBytes, integer(1))
  }
  // A buffer smaller than one part could never fill a part: the sink would stall on backpressure forever.
  if (config.maxBufferedBytes < config.partSizeBytes) {
    throw new ConfigError(`${path}.maxBufferedBytes`,
      `must be >= upload.partSizeBytes (${config.partSizeBytes}), got ${config.maxBufferedBytes}`)
  }
  return config
}

const s3OnlyKeys = ['bucket', 'endpoint', 'region', 'forcePathStyle', 'credentials', 'socketTimeoutMs'] as const
const fileOnlyKeys = ['directory'] as const

function sinkConfig (raw: unknown): SinkConfig {
  const path = 'sink'
  const obj = section(raw, path, ['type', 'prefix', ...s3OnlyKeys, ...fileOnlyKeys])
  const type = withDefault(obj.type, `${path}.type`, defaults.sink.type, oneOf(SinkTypes))

  // Settings of the other sink type would be silently ignored: refuse them like unknown keys.
  for (const key of type === 's3' ? fileOnlyKeys : s3OnlyKeys) {
    if (!isAbsent(obj[key])) throw new ConfigError(`${path}.${key}`, `not allowed when sink.type is "${type}"`)
  }

  const config: SinkConfig = {
    type,
    prefix: withDefault(obj.prefix, `${path}.prefix`, defaults.sink.prefix, keyPrefix),
    region: withDefault(obj.region, `${path}.region`, defaults.sink.region, region),
    forcePathStyle: withDefault(obj.forcePathStyle, `${path}.forcePathStyle`, defaults.sink.forcePathStyle, boolean)
  }
  if (type === 's3') {
    if (isAbsent(obj.bucket)) throw new ConfigError(`${path}.bucket`, 'required when sink.type is "s3"')
    config.bucket = bucketName(obj.bucket, `${path}.bucket`)
    const endpoint = optional(obj.endpoint, `${path}.endpoint`, httpUrl)
    if (endpoint !== undefined) config.endpoint = endpoint
    const credentials = optional(obj.credentials, `${path}.credentials`, credentialsConfig)
    if (credentials !== undefined) config.credentials = credentials
    config.socketTimeoutMs = withDefault(obj.socketTimeoutMs, `${path}.socketTimeoutMs`, defaults.sink.socketTimeoutMs, integer(1000))
  } else {
    if (isAbsent(obj.directory)) throw new ConfigError(`${path}.directory`, 'required when sink.type is "file"')
    config.directory = nonEmptyString(obj.directory, `${path}.directory`)
  }
  return config
}

function credentialsConfig (raw: unknown, path: string): NonNullable<SinkConfig['credentials']> {
  const obj = section(raw, path, ['accessKeyId', 'secretAccessKey', 'sessionToken'])
  const credentials: NonNullable<SinkConfig['credentials']> = {
    accessKeyId: required(obj.accessKeyId, `${path}.accessKeyId`, nonEmptyString),
    secretAccessKey: required(obj.secretAccessKey, `${path}.secretAccessKey`, secretString)
  }
  const sessionToken = optional(obj.sessionToken, `${path}.sessionToken`, secretString)
  if (sessionToken !== undefined) credentials.sessionToken = sessionToken
  return credentials
}

function logConfig (raw: unknown): SedimentConfig['log'] {
  const obj = section(raw, 'log', ['level'])
  return { level: withDefault(obj.level, 'log.level', defaults.log.level, oneOf(LogLevels)) }
}

// ---------------------------------------------------------------------------------------------------------------
// Domain checks: (value, path) → typed value, or throw ConfigError(path, ...)
// ---------------------------------------------------------------------------------------------------------------

// host:port where host is a name, an IPv4 address or a bracketed IPv6 address.
const BROKER = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?):(\d{1,5})$/

function brokerList (value: unknown, path: string): string[] {
  return nonEmptyArray(value, path, 'host:port strings').map((item, i) => {
    const itemPath = `${path}[${i}]`
    const broker = nonEmptyString(item, itemPath).trim()
    const port = BROKER.exec(broker)?.[1]
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
      throw new ConfigError(itemPath, `must be host:port (port 1..65535), got ${describe(item)}`)
    }
    return broker
  })
}

// Kafka's own rule for topic names.
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/

function topicList (value: unknown, path: string): string[] {
  const seen = new Set<string>()
  return nonEmptyArray(value, path, 'topic names').map((item, i) => {
    const itemPath = `${path}[${i}]`
    const topic = nonEmptyString(item, itemPath)
    if (!TOPIC.test(topic) || topic === '.' || topic === '..') {
      throw new ConfigError(itemPath, `must be a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -), got ${describe(item)}`)
    }
    if (seen.has(topic)) throw new ConfigError(itemPath, `duplicate topic ${describe(topic)}`)
    seen.add(topic)
    return topic
  })
}

function topicPattern (value: unknown, path: string): string {
  const source = nonEmptyString(value, path)
  // Topic names never contain '/', so "/^logs/" (a JS regex literal) could never match anything.
  if (/^\/.*\/[a-z]*$/.test(source)) {
    throw new ConfigError(path, `must be a regular expression source without surrounding slashes, got ${describe(source)}`)
  }
  try {
    new RegExp(source) // eslint-disable-line no-new
  } catch (err) {
    throw new ConfigError(path, `must be a valid regular expression: ${(err as Error).message}`, { cause: err })
  }
  return source
}

function dottedPath (value: unknown, path: string): string {
  const field = nonEmptyString(value, path)
  if (field.split('.').some(part => part === '')) {
    throw new ConfigError(path, `must be a field name or dotted path like "meta.ts", got ${describe(field)}`)
  }
  return field
}

/** Kept as written (the stage parses it with the same ISO-8601 parser as message timestamps). */
function isoDate (value: unknown, path: string): string {
  // A YAML 1.1 document (`%YAML 1.1`) turns an unquoted date into a Date.
  const text = value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : value
  if (typeof text !== 'string' || Number.isNaN(parseIso(text.trim()))) {
    throw new ConfigError(path, `not an ISO-8601 date or date-time (e.g. "2020-01-01" or "2020-01-01T00:00:00Z"), got ${describe(value)}`)
  }
  return text.trim()
}

function pathTemplate (value: unknown, path: string): string {
  const template = nonEmptyString(value, path)
  // Everything in braces must be a known token, and no brace may be left over.
  const rest = template.replace(/\{([^{}]*)\}/g, (match, token: string) => {
    if (!(TemplateTokens as readonly string[]).includes(token)) {
      throw new ConfigError(path, `unknown token ${match}; allowed: ${TemplateTokens.map(t => `{${t}}`).join(' ')}`)
    }
    return 'x'
  })
  if (/[{}]/.test(rest)) throw new ConfigError(path, `has an unbalanced brace, got ${describe(template)}`)
  checkRelativePath(template, path)
  return template
}

/** Object keys are relative paths below the prefix: no '/' at the ends, no empty, '.' or '..' segments. */
function checkRelativePath (value: string, path: string): void {
  if (value.startsWith('/')) throw new ConfigError(path, `must not start with "/", got ${describe(value)}`)
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new ConfigError(path, `must not contain control characters, got ${describe(value)}`)
  for (const segment of value.split('/')) {
    if (segment === '') throw new ConfigError(path, `must not contain empty path segments ("//" or a trailing "/"), got ${describe(value)}`)
    if (segment === '.' || segment === '..') throw new ConfigError(path, `must not contain "." or ".." segments, got ${describe(value)}`)
  }
}

function keyPrefix (value: unknown, path: string): string {
  if (typeof value !== 'string') throw new ConfigError(path, `must be a string, got ${describe(value)}`)
  const prefix = value.replace(/^\/+|\/+$/g, '')
  if (prefix !== '') checkRelativePath(prefix, path)
  return prefix
}

function timezone (value: unknown, path: string): string {
  const zone = nonEmptyString(value, path)
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone }) // eslint-disable-line no-new
  } catch {
    throw new ConfigError(path, `must be an IANA time zone like "UTC" or "Europe/Berlin", got ${describe(zone)}`)
  }
  return zone
}

// Length per the brief/S3; characters loose enough for legacy and S3-compatible stores, strict enough to
// catch "s3://bucket/path".
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$/

function bucketName (value: unknown, path: string): string {
  const bucket = nonEmptyString(value, path)
  if (bucket.length < 3 || bucket.length > 63) {
    throw new ConfigError(path, `must be 3..63 characters long, got ${describe(bucket)}`)
  }
  if (!BUCKET.test(bucket)) {
    const hint = bucket.includes('/') ? ' (give the bucket name only, and the path as sink.prefix)' : ''
    throw new ConfigError(path, `must be a bucket name (letters, digits, ".", "-", "_")${hint}, got ${describe(bucket)}`)
  }
  return bucket
}

function httpUrl (value: unknown, path: string): string {
  const url = nonEmptyString(value, path)
  let protocol: string
  try {
    protocol = new URL(url).protocol
  } catch {
    protocol = ''
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new ConfigError(path, `must be an http:// or https:// URL, got ${describe(url)}`)
  }
  return url
}

function region (value: unknown, path: string): string {
  const name = nonEmptyString(value, path)
  if (/\s/.test(name)) throw new ConfigError(path, `must not contain whitespace, got ${describe(name)}`)
  return name
}

// ---------------------------------------------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------------------------------------------

type Check<T> = (value: unknown, path: string) => T

function isAbsent (value: unknown): value is null | undefined {
  return value === undefined || value === null
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function withDefault<T> (value: unknown, path: string, fallback: T, check: Check<T>): T {
  return isAbsent(value) ? fallback : check(value, path)
}

function optional<T> (value: unknown, path: string, check: Check<T>): T | undefined {
  return isAbsent(value) ? undefined : check(value, path)
}

function required<T> (value: unknown, path: string, check: Check<T>): T {
  if (isAbsent(value)) throw new ConfigError(path, 'required')
  return check(value, path)
}

/** A mapping with only the allowed keys (an absent section is an empty one, so its defaults apply). */
function section (value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (isAbsent(value) && path !== '') return {}
  if (!isPlainObject(value)) {
    throw new ConfigError(path, `${path === '' ? 'the configuration ' : ''}must be a mapping, got ${describe(value)}`)
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const suggestion = closest(key, allowed)
      const hint = suggestion === undefined ? `allowed: ${allowed.join(', ')}` : `did you mean "${suggestion}"?`
      throw new ConfigError(path === '' ? key : `${path}.${key}`, `unknown key (${hint})`)
    }
  }
  return value
}

function nonEmptyString (value: unknown, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(path, `must be a non-empty string, got ${describe(value)}`)
  }
  return value
}

/** Like nonEmptyString, but never echoes the value back into an error message. */
function secretString (value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(path, `must be a non-empty string, got ${typeof value === 'string' ? 'an empty string' : typeName(value)}`)
  }
  return value
}

function nonEmptyArray (value: unknown, path: string, what: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(path, `must be a non-empty list of ${what}, got ${describe(value)}`)
  }
  return value
}

function boolean (value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(path, `must be true or false, got ${describe(value)}`)
  return value
}

function integer (min: number, max = Number.MAX_SAFE_INTEGER): Check<number> {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(path, `must be an integer ${range}, got ${describe(value)}`)
    }
    return value
  }
}

function oneOf<const T extends string> (values: readonly T[]): Check<T> {
  return (value, path) => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw new ConfigError(path, `must be one of ${values.map(v => `"${v}"`).join(', ')}, got ${describe(value)}`)
    }
    return value as T
  }
}

/** A short rendering of a bad value for an error message. */
function describe (value: unknown): string {
  if (typeof value === 'string') {
    const text = JSON.stringify(value)
    return text.length > 80 ? `${text.slice(0, 77)}..."` : text
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return typeName(value)
}

function typeName (value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `a ${typeof value}`
}

/** The allowed key a typo most likely meant: same up to case, '_' and '-', or a small edit distance. */
function closest (key: string, allowed: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '')
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of allowed) {
    const distance = norm(key) === norm(candidate) ? 0 : editDistance(key.toLowerCase(), candidate.toLowerCase())
    // Short keys tolerate one edit, longer ones two: "ab" should not suggest "ssl".
    const limit = Math.min(key.length, candidate.length) <= 4 ? 1 : 2
    if (distance <= limit && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
    }
    previous = current
  }
  return previous[b.length]!
}
