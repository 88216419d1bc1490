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
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parseDocument } from 'yaml'
import { ConfigError } from '../errors.js'
import { parseIso } from '../stages/timestamp.js'
import { planParser } from '../stages/parsers/registry.js'
import { EXTRA_COLUMN, WRAP_COLUMNS } from '../stages/formats/names.js'
import { compileTemplate, templateFieldNames } from '../stages/path-template.js'
import { reservedTopicProblem } from '../stages/topic-name.js'
import { finalizerTemplateProblem } from '../finalizer/periods.js'
import { s3AccessConfig, s3AccessKeys } from '../sinks/s3-access.js'
import { azureOnlyKeys, azureSinkConfig } from '../sinks/azure-options.js'
import { allowInsecureSasl, checkSaslTransport, kafkaSaslConfig, kafkaSslConfig } from '../sources/kafka-security.js'
import {
  Compressions,
  LogLevels,
  OffsetResets,
  IsolationLevels,
  OutputFormats,
  ParquetTypes,
  FallbackPolicies,
  TimestampUnits,
  HeaderEncodings,
  ParserLimits,
  ParserTypes,
  SplitModes,
  RawFramings,
  SinkTypes,
  type KafkaConfig,
  type MetricsConfig,
  type OpenTsdbConfig,
  type OutputConfig,
  type ParquetOutputConfig,
  type ParquetType,
  type ParserConfig,
  type PartitionConfig,
  type SedimentConfig,
  type SinkConfig,
  type TimestampBoundsConfig,
  type UploadConfig
} from './types.js'
import { CatalogTypes, type CatalogConfig, type FinalizerConfig } from './types.js'

const MiB = 1024 * 1024

export const defaults = {
  kafka: {
    clientId: 'sediment',
    autoOffsetReset: 'earliest',
    isolationLevel: 'read_committed',
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    rebalanceTimeoutMs: 60_000,
    maxBytesPerPartition: MiB,
    ssl: false,
    connectionTimeoutMs: 10_000,
    topicRefreshSeconds: 60
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
    shutdownGraceSeconds: 90,
    partSizeBytes: 8 * MiB,
    maxConcurrentParts: 4,
    maxBufferedBytes: 256 * MiB,
    maxOpenFilesPerPartition: 1000
  },
  sink: { type: 's3', prefix: '', region: 'us-east-1', forcePathStyle: false, socketTimeoutMs: 30_000 },
  generation: 1,
  log: { level: 'info', pretty: false, progressSeconds: 30 },
  metrics: { enabled: true, host: '127.0.0.1', port: 9464, lagIntervalSeconds: 15, readyzUploadFailureSeconds: 60, opentsdb: { intervalSeconds: 60 } }
} as const

/** S3 rejects multipart parts below 5 MiB (except the last) and above 5 GiB. */
const MIN_PART_BYTES = 5 * MiB
const MAX_PART_BYTES = 5 * 1024 * MiB

/** Tokens a partition template may use. */


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
  SEDIMENT_KAFKA_SASL_USERNAME: 'kafka.sasl.username',
  SEDIMENT_KAFKA_SASL_PASSWORD: 'kafka.sasl.password',
  SEDIMENT_KAFKA_SASL_CLIENT_SECRET: 'kafka.sasl.tokenEndpoint.clientSecret',
  SEDIMENT_KAFKA_SSL_CA: 'kafka.ssl.ca',
  SEDIMENT_KAFKA_SSL_CERT: 'kafka.ssl.cert',
  SEDIMENT_KAFKA_SSL_KEY: 'kafka.ssl.key',
  SEDIMENT_KAFKA_SSL_KEY_PASSWORD: 'kafka.ssl.keyPassword',
  SEDIMENT_SINK_BUCKET: 'sink.bucket',
  SEDIMENT_SINK_ENDPOINT: 'sink.endpoint',
  SEDIMENT_SINK_REGION: 'sink.region',
  SEDIMENT_SINK_PREFIX: 'sink.prefix',
  SEDIMENT_SINK_ACCESS_KEY_ID: 'sink.credentials.accessKeyId',
  SEDIMENT_SINK_SECRET_ACCESS_KEY: 'sink.credentials.secretAccessKey',
  SEDIMENT_SINK_SESSION_TOKEN: 'sink.credentials.sessionToken',
  SEDIMENT_SINK_AZURE_CONNECTION_STRING: 'sink.connectionString',
  SEDIMENT_SINK_AZURE_CONTAINER_URL: 'sink.containerUrl',
  SEDIMENT_LOG_LEVEL: 'log.level',
  SEDIMENT_METRICS_HOST: 'metrics.host'
} as const

export type EnvOverrideName = keyof typeof envOverrides

/** Plain strings set by path; brokers and credentials are handled on their own below. */
const simpleOverrides = [
  'SEDIMENT_KAFKA_GROUP_ID',
  'SEDIMENT_KAFKA_SASL_USERNAME',
  'SEDIMENT_KAFKA_SASL_PASSWORD',
  'SEDIMENT_KAFKA_SASL_CLIENT_SECRET',
  'SEDIMENT_KAFKA_SSL_CA',
  'SEDIMENT_KAFKA_SSL_CERT',
  'SEDIMENT_KAFKA_SSL_KEY',
  'SEDIMENT_KAFKA_SSL_KEY_PASSWORD',
  'SEDIMENT_SINK_BUCKET',
  'SEDIMENT_SINK_ENDPOINT',
  'SEDIMENT_SINK_REGION',
  'SEDIMENT_SINK_PREFIX',
  'SEDIMENT_SINK_AZURE_CONNECTION_STRING',
  'SEDIMENT_SINK_AZURE_CONTAINER_URL',
  'SEDIMENT_LOG_LEVEL',
  'SEDIMENT_METRICS_HOST'
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

  // PEM from the environment turns `ssl: true` (or no ssl) into a mapping; setPath would stop at the boolean.
  const kafka = root.kafka
  const sslEnv = simpleOverrides.some(n => n.startsWith('SEDIMENT_KAFKA_SSL_') && envValue(env, n) !== undefined)
  if (sslEnv && (isAbsent(kafka) || (isPlainObject(kafka) && !isPlainObject(kafka.ssl)))) setPath(root, 'kafka.ssl', {})

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
  const root = section(raw, '', ['kafka', 'parser', 'partition', 'output', 'upload', 'sink', 'generation', 'log', 'metrics', 'finalizer', 'topicOverrides', 'workers'])
  return withTopicOverrides(root, checkTemplateFields({
    kafka: kafkaConfig(root.kafka),
    parser: parserConfig(root.parser),
    partition: partitionConfig(root.partition),
    output: outputConfig(root.output),
    upload: uploadConfig(root.upload),
    sink: sinkConfig(root.sink),
    generation: withDefault(root.generation, 'generation', defaults.generation, integer(0)),
    log: logConfig(root.log),
    metrics: metricsConfig(root.metrics),
    ...(isAbsent(root.finalizer) ? {} : { finalizer: finalizerConfig(root.finalizer, partitionConfig(root.partition).template) }),
    ...(isAbsent(root.workers) ? {} : { workers: workersSetting(root.workers, 'workers') })
  }))
}

/** `workers`: pipelines in worker threads (src/workers/): a count, or "auto" for the cores the container may use. */
function workersSetting (raw: unknown, path: string): number | 'auto' {
  if (raw === 'auto') return 'auto'
  if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) raw = Number(raw)
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > 64) {
    throw new ConfigError(path, `must be an integer from 1 to 64 or "auto", got ${JSON.stringify(raw)}`)
  }
  return raw
}

/**
 * `topicOverrides`: a list of `{ topics | topicPattern, parser?, partition?, output?, upload? }`. Each section
 * given is laid over the top-level one key by key, except that a section changing `parser.type` or
 * `output.format` replaces it (the other type's keys would not apply); the result is validated like the
 * top-level section, with the override's path in messages.
 */
function withTopicOverrides (root: Record<string, unknown>, config: SedimentConfig): SedimentConfig {
  if (isAbsent(root.topicOverrides)) return config
  const path = 'topicOverrides'
  const list = nonEmptyArray(root.topicOverrides, path, 'list of overrides')
  const over = (base: unknown, own: unknown, typeKey?: string): unknown => {
    if (isAbsent(own)) return base
    if (!isPlainObject(own)) return own // the section validator names the problem
    const b = isPlainObject(base) ? base : {}
    if (typeKey !== undefined && !isAbsent(own[typeKey]) && own[typeKey] !== (b[typeKey] ?? undefined)) return own
    return { ...b, ...own }
  }
  config.topicOverrides = list.map((raw, i) => {
    const at = `${path}[${i}]`
    const obj = section(raw, at, ['topics', 'topicPattern', 'parser', 'partition', 'output', 'upload'])
    const hasTopics = !isAbsent(obj.topics)
    if (hasTopics === !isAbsent(obj.topicPattern)) throw new ConfigError(at, 'needs exactly one of topics or topicPattern')
    const upload = section(obj.upload, `${at}.upload`, ['maxFileBytes', 'maxFileAgeSeconds'])
    return relocated(at, () => {
      const o = checkTemplateFields({
        ...config,
        parser: parserConfig(over(root.parser, obj.parser, 'type')),
        partition: partitionConfig(over(root.partition, obj.partition)),
        output: outputConfig(over(root.output, obj.output, 'format'))
      })
      const u = uploadConfig(over(root.upload, upload))
      if (config.finalizer !== undefined && o.partition.template !== config.partition.template) {
        throw new ConfigError('partition.template', 'must equal the top-level partition.template while a finalizer is configured (the finalizer computes partitions from one template)')
      }
      return {
        ...(hasTopics ? { topics: topicList(obj.topics, 'topics') } : { topicPattern: topicPattern(obj.topicPattern, 'topicPattern') }),
        parser: o.parser,
        partition: o.partition,
        output: o.output,
        upload: { maxFileBytes: u.maxFileBytes, maxFileAgeSeconds: u.maxFileAgeSeconds }
      }
    })
  })
  return config
}

/** Runs a section validator for an override and puts the override's path in front of the failing path. */
function relocated<T> (at: string, validate: () => T): T {
  try {
    return validate()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const detail = err.path === '' ? err.message : err.message.slice(err.path.length + 2)
    throw new ConfigError(err.path === '' ? at : `${at}.${err.path}`, detail, { cause: err })
  }
}

function kafkaConfig (raw: unknown): KafkaConfig {
  const path = 'kafka'
  const obj = section(raw, path, [
    'brokers', 'groupId', 'clientId', 'topics', 'topicPattern', 'topicRefreshSeconds', 'autoOffsetReset', 'isolationLevel', 'sessionTimeoutMs',
    'heartbeatIntervalMs', 'rebalanceTimeoutMs', 'maxBytesPerPartition', 'ssl', 'sasl', 'allowInsecureSasl', 'connectionTimeoutMs'
  ])
  const d = defaults.kafka
  const config: KafkaConfig = {
    brokers: required(obj.brokers, `${path}.brokers`, brokerList),
    groupId: required(obj.groupId, `${path}.groupId`, nonEmptyString),
    clientId: withDefault(obj.clientId, `${path}.clientId`, d.clientId, nonEmptyString),
    ...topicSelection(obj),
    topicRefreshSeconds: withDefault(obj.topicRefreshSeconds, `${path}.topicRefreshSeconds`, d.topicRefreshSeconds, integer(0)),
    autoOffsetReset: withDefault(obj.autoOffsetReset, `${path}.autoOffsetReset`, d.autoOffsetReset, oneOf(OffsetResets)),
    isolationLevel: withDefault(obj.isolationLevel, `${path}.isolationLevel`, d.isolationLevel, oneOf(IsolationLevels)),
    // Lower bounds catch seconds written where milliseconds are meant.
    sessionTimeoutMs: withDefault(obj.sessionTimeoutMs, `${path}.sessionTimeoutMs`, d.sessionTimeoutMs, integer(1000)),
    heartbeatIntervalMs: withDefault(obj.heartbeatIntervalMs, `${path}.heartbeatIntervalMs`, d.heartbeatIntervalMs, integer(100)),
    rebalanceTimeoutMs: withDefault(obj.rebalanceTimeoutMs, `${path}.rebalanceTimeoutMs`, d.rebalanceTimeoutMs, integer(1000)),
    maxBytesPerPartition: withDefault(obj.maxBytesPerPartition, `${path}.maxBytesPerPartition`, d.maxBytesPerPartition, integer(1)),
    ssl: kafkaSslConfig(obj.ssl, `${path}.ssl`),
    connectionTimeoutMs: withDefault(obj.connectionTimeoutMs, `${path}.connectionTimeoutMs`, d.connectionTimeoutMs, integer(100))
  }
  const sasl = optional(obj.sasl, `${path}.sasl`, kafkaSaslConfig)
  if (sasl !== undefined) config.sasl = sasl
  const insecure = allowInsecureSasl(obj.allowInsecureSasl, `${path}.allowInsecureSasl`)
  if (insecure !== undefined) config.allowInsecureSasl = insecure
  checkSaslTransport(config, path)

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

function parserConfig (raw: unknown): ParserConfig {
  const path = 'parser'
  const obj = section(raw, path, [
    'type', 'timestampField', 'maxMessageBytes', 'timestampBounds', 'timestampFormat', 'timestampMatch', 'timestampUnit', 'timezone', 'fallback',
    'fields', 'split', 'module', 'header', 'regex', 'protobuf', 'avro', 'thrift'
  ])
  const d = defaults.parser
  const config: ParserConfig = {
    type: withDefault(obj.type, `${path}.type`, d.type, oneOf(ParserTypes)),
    timestampField: withDefault(obj.timestampField, `${path}.timestampField`, d.timestampField, dottedPath),
    maxMessageBytes: withDefault(obj.maxMessageBytes, `${path}.maxMessageBytes`, d.maxMessageBytes, integer(ParserLimits.MIN_MAX_MESSAGE_BYTES)),
    timestampBounds: timestampBoundsConfig(obj.timestampBounds, `${path}.timestampBounds`)
  }
  // The keys below stay absent unless set, so a config without them is exactly what it was before they existed.
  const set = <K extends keyof ParserConfig>(key: K, value: ParserConfig[K] | undefined): void => {
    if (value !== undefined) config[key] = value
  }
  set('timestampFormat', optional(obj.timestampFormat, `${path}.timestampFormat`, nonEmptyString))
  set('timestampMatch', optional(obj.timestampMatch, `${path}.timestampMatch`, oneOf(['full', 'prefix'] as const)))
  set('timezone', optional(obj.timezone, `${path}.timezone`, timezone))
  set('timestampUnit', optional(obj.timestampUnit, `${path}.timestampUnit`, oneOf(TimestampUnits)))
  set('fallback', optional(obj.fallback, `${path}.fallback`, (value, p) => {
    const f = section(value, p, ['policy', 'date'])
    const policy = required(f.policy, `${p}.policy`, oneOf(FallbackPolicies))
    const date = optional(f.date, `${p}.date`, isoDate)
    return date === undefined ? { policy } : { policy, date }
  }))
  set('fields', optional(obj.fields, `${path}.fields`, (value, p) => {
    const f = section(value, p, Object.keys(isPlainObject(value) ? value : {}))
    const out: Record<string, string> = {}
    for (const [name, field] of Object.entries(f)) Object.defineProperty(out, name, { value: dottedPath(field, `${p}.${name}`), enumerable: true, writable: true, configurable: true })
    return out
  }))
  set('split', optional(obj.split, `${path}.split`, oneOf(SplitModes)))
  set('module', optional(obj.module, `${path}.module`, nonEmptyString))
  set('header', optional(obj.header, `${path}.header`, (value, p) => {
    const h = section(value, p, ['name', 'encoding'])
    return { name: required(h.name, `${p}.name`, nonEmptyString), encoding: withDefault(h.encoding, `${p}.encoding`, 'text', oneOf(HeaderEncodings)) }
  }))
  set('regex', optional(obj.regex, `${path}.regex`, (value, p) => {
    const r = section(value, p, ['pattern', 'flags'])
    const pattern = required(r.pattern, `${p}.pattern`, nonEmptyString)
    const flags = optional(r.flags, `${p}.flags`, (v, fp) => typeof v === 'string' ? v : nonEmptyString(v, fp))
    return flags === undefined ? { pattern } : { pattern, flags }
  }))
  set('protobuf', optional(obj.protobuf, `${path}.protobuf`, (value, p) => {
    const pb = section(value, p, ['file', 'messageType'])
    return { file: required(pb.file, `${p}.file`, nonEmptyString), messageType: required(pb.messageType, `${p}.messageType`, nonEmptyString) }
  }))
  set('thrift', optional(obj.thrift, `${path}.thrift`, (value, p) => {
    const t = section(value, p, ['protocol'])
    return { protocol: withDefault(t.protocol, `${p}.protocol`, 'binary', oneOf(['binary', 'compact'] as const)) }
  }))
  set('avro', optional(obj.avro, `${path}.avro`, (value, p) => {
    const a = section(value, p, ['schemaFile', 'registryUrl'])
    const schemaFile = optional(a.schemaFile, `${p}.schemaFile`, nonEmptyString)
    const registryUrl = optional(a.registryUrl, `${p}.registryUrl`, httpUrl)
    return { ...(schemaFile !== undefined ? { schemaFile } : {}), ...(registryUrl !== undefined ? { registryUrl } : {}) }
  }))
  // Everything that depends on the combination (a section for another type, a missing module, a regex without
  // the timestamp group, a date pattern or field name that does not compile) is checked by the parse stage's own
  // factory, so the service and a library user of parseStage get the same errors. No file is read here.
  planParser(config)
  return config
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

/** Output defaults that depend on the format or codec (the plain ones are in `defaults.output`). */
const outputDefaults = { parquetCompression: 'snappy', zstdLevel: 3, delimiter: ',', framing: 'newline', rowGroupBytes: 16 * MiB } as const

/** Keys that belong to one output format: given with another format they would be silently ignored. */
const formatOnlyKeys = { columns: 'csv', delimiter: 'csv', framing: 'raw', parquet: 'parquet' } as const

function outputConfig (raw: unknown): OutputConfig {
  const path = 'output'
  const obj = section(raw, path, ['format', 'compression', 'compressionLevel', 'wrap', ...Object.keys(formatOnlyKeys)])
  const d = defaults.output
  const format = withDefault(obj.format, `${path}.format`, d.format, oneOf(OutputFormats))
  const compression = withDefault(obj.compression, `${path}.compression`,
    format === 'parquet' ? outputDefaults.parquetCompression : d.compression, oneOf(Compressions))
  if (compression === 'snappy' && format !== 'parquet') {
    throw new ConfigError(`${path}.compression`, `"snappy" is only for output.format "parquet"; use "gzip", "zstd" or "none" with "${format}"`)
  }
  const zstd = compression === 'zstd'
  const config: OutputConfig = {
    format,
    compression,
    compressionLevel: withDefault(obj.compressionLevel, `${path}.compressionLevel`,
      zstd ? outputDefaults.zstdLevel : d.compressionLevel, integer(1, zstd ? 19 : 9))
  }
  for (const [key, owner] of Object.entries(formatOnlyKeys)) {
    if (!isAbsent(obj[key]) && owner !== format) {
      throw new ConfigError(`${path}.${key}`, `only for output.format "${owner}", not "${format}"`)
    }
  }
  const wrap = optional(obj.wrap, `${path}.wrap`, boolean)
  if (wrap === true && format === 'raw') {
    throw new ConfigError(`${path}.wrap`, 'not possible with output.format "raw" (it writes the message bytes only); use jsonl, csv or parquet')
  }
  if (wrap !== undefined) config.wrap = wrap
  if (format === 'csv') {
    if (isAbsent(obj.columns)) throw new ConfigError(`${path}.columns`, 'required for output.format "csv": the field paths to write, in order')
    config.columns = fieldPathList(obj.columns, `${path}.columns`)
    config.delimiter = withDefault(obj.delimiter, `${path}.delimiter`, outputDefaults.delimiter, csvDelimiter)
  }
  if (format === 'raw') config.framing = withDefault(obj.framing, `${path}.framing`, outputDefaults.framing, oneOf(RawFramings))
  if (format === 'parquet') config.parquet = parquetConfig(obj.parquet, `${path}.parquet`, wrap === true)
  return config
}

function parquetConfig (raw: unknown, path: string, wrap: boolean): ParquetOutputConfig {
  const obj = section(raw, path, ['schema', 'schemaFile', 'rowGroupBytes'])
  const config: ParquetOutputConfig = {
    rowGroupBytes: withDefault(obj.rowGroupBytes, `${path}.rowGroupBytes`, outputDefaults.rowGroupBytes, integer(64 * 1024, 1024 * MiB))
  }
  if (!isAbsent(obj.schema) && !isAbsent(obj.schemaFile)) {
    throw new ConfigError(path, 'give schema or schemaFile, not both')
  }
  if (!isAbsent(obj.schema)) config.schema = parquetSchema(obj.schema, `${path}.schema`, wrap)
  if (!isAbsent(obj.schemaFile)) {
    const file = nonEmptyString(obj.schemaFile, `${path}.schemaFile`)
    config.schemaFile = file
    config.schema = parquetSchema(readSchemaFile(file, `${path}.schemaFile`), `${path}.schemaFile`, wrap)
  }
  return config
}

/** A mapping of column (field path) → type; names the columns the output adds itself may not be used. */
function parquetSchema (value: unknown, path: string, wrap: boolean): Record<string, ParquetType> {
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    throw new ConfigError(path, `must be a non-empty mapping of field paths to types (${ParquetTypes.join(', ')}), got ${describe(value)}`)
  }
  const schema: Record<string, ParquetType> = {}
  for (const [field, type] of Object.entries(value)) {
    const fieldPath = `${path}.${field}`
    dottedPath(field, fieldPath)
    if (field === EXTRA_COLUMN || (wrap && (WRAP_COLUMNS as readonly string[]).includes(field))) {
      throw new ConfigError(fieldPath, `"${field}" is a column the output adds itself; rename the column`)
    }
    Object.defineProperty(schema, field, { value: oneOf(ParquetTypes)(type, fieldPath), enumerable: true, writable: true, configurable: true })
  }
  return schema
}

/** Read once at validation, so a missing or broken schema file stops the service before it consumes anything. */
function readSchemaFile (file: string, path: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(path, `cannot read ${describe(file)}: ${(err as Error).message}`, { cause: err })
  }
  const doc = parseDocument(text, { uniqueKeys: true })
  if (doc.errors[0] !== undefined) {
    throw new ConfigError(path, `cannot parse ${describe(file)}: ${doc.errors[0].message.split('\n')[0] ?? ''}`)
  }
  return doc.toJS()
}

function fieldPathList (value: unknown, path: string): string[] {
  const seen = new Set<string>()
  return nonEmptyArray(value, path, 'field paths').map((item, i) => {
    const field = dottedPath(item, `${path}[${i}]`)
    if (seen.has(field)) throw new ConfigError(`${path}[${i}]`, `duplicate column ${describe(field)}`)
    seen.add(field)
    return field
  })
}

function csvDelimiter (value: unknown, path: string): string {
  if (typeof value !== 'string' || [...value].length !== 1 || value === '"' || value === '\n' || value === '\r') {
    throw new ConfigError(path, `must be one character other than a quote or line break (e.g. ",", ";", "|" or "\\t"), got ${describe(value)}`)
  }
  return value
}

function uploadConfig (raw: unknown): UploadConfig {
  const path = 'upload'
  const obj = section(raw, path, [
    'maxFileBytes', 'maxFileAgeSeconds', 'uploadOnShutdown', 'shutdownGraceSeconds', 'partSizeBytes', 'maxConcurrentParts', 'maxBufferedBytes',
    'maxOpenFilesPerPartition'
  ])
  const d = defaults.upload
  const config: UploadConfig = {
    maxFileBytes: withDefault(obj.maxFileBytes, `${path}.maxFileBytes`, d.maxFileBytes, integer(1024)),
    maxFileAgeSeconds: withDefault(obj.maxFileAgeSeconds, `${path}.maxFileAgeSeconds`, d.maxFileAgeSeconds, integer(1)),
    uploadOnShutdown: withDefault(obj.uploadOnShutdown, `${path}.uploadOnShutdown`, d.uploadOnShutdown, boolean),
    shutdownGraceSeconds: withDefault(obj.shutdownGraceSeconds, `${path}.shutdownGraceSeconds`, d.shutdownGraceSeconds, integer(1)),
    partSizeBytes: withDefault(obj.partSizeBytes, `${path}.partSizeBytes`, d.partSizeBytes, integer(MIN_PART_BYTES, MAX_PART_BYTES)),
    maxConcurrentParts: withDefault(obj.maxConcurrentParts, `${path}.maxConcurrentParts`, d.maxConcurrentParts, integer(1)),
    maxBufferedBytes: withDefault(obj.maxBufferedBytes, `${path}.maxBufferedBytes`, d.maxBufferedBytes, integer(1)),
    maxOpenFilesPerPartition: withDefault(obj.maxOpenFilesPerPartition, `${path}.maxOpenFilesPerPartition`, d.maxOpenFilesPerPartition, integer(1))
  }
  // A buffer smaller than one part could never fill a part: the sink would stall on backpressure forever.
  if (config.maxBufferedBytes < config.partSizeBytes) {
    throw new ConfigError(`${path}.maxBufferedBytes`,
      `must be >= upload.partSizeBytes (${config.partSizeBytes}), got ${config.maxBufferedBytes}`)
  }
  return config
}

// A function, not a constant: s3-access.ts and azure-options.ts import this module's validators, so their key lists
// are not initialised yet while this module loads when one of them is imported first.
const s3OnlyKeys = (): readonly string[] => ['bucket', 'endpoint', 'region', 'forcePathStyle', 'credentials', 'socketTimeoutMs', 'checksum', ...s3AccessKeys]
const fileOnlyKeys = ['directory'] as const

function sinkConfig (raw: unknown): SinkConfig {
  const path = 'sink'
  const obj = section(raw, path, ['type', 'prefix', ...s3OnlyKeys(), ...fileOnlyKeys, ...azureOnlyKeys])
  const type = withDefault(obj.type, `${path}.type`, defaults.sink.type, oneOf(SinkTypes))

  // Settings of the other sink type would be silently ignored: refuse them like unknown keys.
  const own: readonly string[] = { s3: s3OnlyKeys(), file: fileOnlyKeys, azure: azureOnlyKeys }[type]
  for (const key of [...s3OnlyKeys(), ...fileOnlyKeys, ...azureOnlyKeys].filter(k => !own.includes(k))) {
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
    config.checksum = withDefault(obj.checksum, `${path}.checksum`, 'when-supported', oneOf(['when-supported', 'when-required'] as const))
    Object.assign(config, s3AccessConfig(obj, path))
  } else if (type === 'azure') {
    Object.assign(config, azureSinkConfig(obj, path))
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
  const obj = section(raw, 'log', ['level', 'pretty', 'progressSeconds'])
  return {
    level: withDefault(obj.level, 'log.level', defaults.log.level, oneOf(LogLevels)),
    pretty: withDefault(obj.pretty, 'log.pretty', defaults.log.pretty, boolean),
    progressSeconds: withDefault(obj.progressSeconds, 'log.progressSeconds', defaults.log.progressSeconds, integer(0))
  }
}

function metricsConfig (raw: unknown): MetricsConfig {
  const path = 'metrics'
  const obj = section(raw, path, ['enabled', 'host', 'port', 'lagIntervalSeconds', 'readyzUploadFailureSeconds', 'opentsdb'])
  const d = defaults.metrics
  const config: MetricsConfig = {
    enabled: withDefault(obj.enabled, `${path}.enabled`, d.enabled, boolean),
    host: withDefault(obj.host, `${path}.host`, d.host, listenHost),
    port: withDefault(obj.port, `${path}.port`, d.port, integer(0, 65535)),
    lagIntervalSeconds: withDefault(obj.lagIntervalSeconds, `${path}.lagIntervalSeconds`, d.lagIntervalSeconds, integer(1)),
    readyzUploadFailureSeconds: withDefault(obj.readyzUploadFailureSeconds, `${path}.readyzUploadFailureSeconds`, d.readyzUploadFailureSeconds, integer(1))
  }
  const opentsdb = optional(obj.opentsdb, `${path}.opentsdb`, openTsdbConfig)
  if (opentsdb !== undefined) config.opentsdb = opentsdb
  return config
}

function openTsdbConfig (raw: unknown, path: string): OpenTsdbConfig {
  const obj = section(raw, path, ['url', 'username', 'password', 'intervalSeconds', 'tags'])
  const url = required(obj.url, `${path}.url`, httpUrl)
  const parsed = new URL(url)
  // The configuration is logged at start (secrets redacted by key): a password inside a URL would not be.
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError(`${path}.url`, `must not contain credentials; set ${path}.username and ${path}.password instead`)
  }
  const config: OpenTsdbConfig = {
    url,
    intervalSeconds: withDefault(obj.intervalSeconds, `${path}.intervalSeconds`, defaults.metrics.opentsdb.intervalSeconds, integer(1)),
    tags: withDefault(obj.tags, `${path}.tags`, {}, openTsdbTags)
  }
  const username = optional(obj.username, `${path}.username`, nonEmptyString)
  const password = optional(obj.password, `${path}.password`, secretString)
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(`${path}.${username === undefined ? 'username' : 'password'}`, `required with ${path}.${username === undefined ? 'password' : 'username'}`)
  }
  if (username !== undefined && password !== undefined) Object.assign(config, { username, password })
  return config
}

// OpenTSDB's character set for metric names, tag keys and tag values.
const TSDB_NAME = /^[A-Za-z0-9._/-]+$/

function openTsdbTags (value: unknown, path: string): Record<string, string> {
  if (!isPlainObject(value)) throw new ConfigError(path, `must be a mapping of tag names to values, got ${describe(value)}`)
  const tags: Record<string, string> = {}
  for (const [key, item] of Object.entries(value)) {
    const text = typeof item === 'number' ? String(item) : item
    if (!TSDB_NAME.test(key)) throw new ConfigError(`${path}.${key}`, 'tag names may only contain A-Z a-z 0-9 - _ . /')
    if (typeof text !== 'string' || !TSDB_NAME.test(text)) {
      throw new ConfigError(`${path}.${key}`, `must be a string of A-Z a-z 0-9 - _ . /, got ${describe(item)}`)
    }
    Object.defineProperty(tags, key, { value: text, enumerable: true, writable: true, configurable: true })
  }
  return tags
}

/** An IP address or host name to bind (no port, no brackets). */
function listenHost (value: unknown, path: string): string {
  const host = nonEmptyString(value, path).trim()
  if (!/^[A-Za-z0-9_.:-]+$/.test(host) || (host.includes(':') && isIP(host) !== 6)) {
    throw new ConfigError(path, `must be an IP address or host name to listen on (e.g. "127.0.0.1" or "0.0.0.0"), got ${describe(value)}`)
  }
  return host
}

export const finalizerDefaults = {
  delaySeconds: 900,
  lookbackPeriods: 24,
  intervalSeconds: 300,
  inRun: false,
  catalog: { type: 'none', database: 'default', table: '{topic}' },
  hive: { timeoutSeconds: 300 },
  qubole: { tokenEnv: 'QUBOLE_API_TOKEN', pollSeconds: 5, timeoutSeconds: 600 }
} as const

/** The finalizer settings `sediment finalize` uses when the file has no `finalizer` section. */
export function defaultFinalizerConfig (): FinalizerConfig {
  const d = finalizerDefaults
  return { delaySeconds: d.delaySeconds, lookbackPeriods: d.lookbackPeriods, intervalSeconds: d.intervalSeconds, inRun: d.inRun, catalog: { ...d.catalog } }
}

/** `template` is the validated partition.template: the finalizer must be able to enumerate (and, with a catalog, name) its partitions. */
function finalizerConfig (raw: unknown, template: string): FinalizerConfig {
  const path = 'finalizer'
  const obj = section(raw, path, ['delaySeconds', 'lookbackPeriods', 'intervalSeconds', 'inRun', 'catalog'])
  const d = finalizerDefaults
  const config: FinalizerConfig = {
    delaySeconds: withDefault(obj.delaySeconds, `${path}.delaySeconds`, d.delaySeconds, integer(0)),
    lookbackPeriods: withDefault(obj.lookbackPeriods, `${path}.lookbackPeriods`, d.lookbackPeriods, integer(1, 10_000)),
    intervalSeconds: withDefault(obj.intervalSeconds, `${path}.intervalSeconds`, d.intervalSeconds, integer(1)),
    inRun: withDefault(obj.inRun, `${path}.inRun`, d.inRun, boolean),
    catalog: catalogConfig(obj.catalog, `${path}.catalog`)
  }
  const problem = finalizerTemplateProblem(template, config.catalog.type !== 'none')
  if (problem !== undefined) {
    const why = config.catalog.type === 'none' ? 'the finalizer' : `finalizer.catalog.type "${config.catalog.type}"`
    throw new ConfigError('partition.template', `${problem} (needed by ${why}), got ${describe(template)}`)
  }
  return config
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const catalogSections = ['hive', 'glue', 'qubole'] as const

function catalogConfig (raw: unknown, path: string): CatalogConfig {
  const obj = section(raw, path, ['type', 'database', 'table', 'locationPrefix', ...catalogSections])
  const d = finalizerDefaults.catalog
  const type = withDefault(obj.type, `${path}.type`, d.type, oneOf(CatalogTypes))
  for (const key of catalogSections) {
    if (key !== type && !isAbsent(obj[key])) throw new ConfigError(`${path}.${key}`, `not allowed when ${path}.type is "${type}"`)
  }
  const config: CatalogConfig = {
    type,
    database: withDefault(obj.database, `${path}.database`, d.database, sqlIdentifier),
    table: withDefault(obj.table, `${path}.table`, d.table, tablePattern)
  }
  const locationPrefix = optional(obj.locationPrefix, `${path}.locationPrefix`, locationUrl)
  if (locationPrefix !== undefined) config.locationPrefix = locationPrefix
  if (type === 'hive') {
    const hive = section(obj.hive ?? null, `${path}.hive`, ['command', 'timeoutSeconds'])
    config.hive = {
      command: required(hive.command, `${path}.hive.command`, commandLine),
      timeoutSeconds: withDefault(hive.timeoutSeconds, `${path}.hive.timeoutSeconds`, finalizerDefaults.hive.timeoutSeconds, integer(1))
    }
  } else if (type === 'glue') {
    const glue = section(obj.glue, `${path}.glue`, ['region', 'endpoint', 'catalogId'])
    config.glue = {}
    const glueRegion = optional(glue.region, `${path}.glue.region`, region)
    if (glueRegion !== undefined) config.glue.region = glueRegion
    const endpoint = optional(glue.endpoint, `${path}.glue.endpoint`, httpUrl)
    if (endpoint !== undefined) config.glue.endpoint = endpoint
    const catalogId = optional(glue.catalogId, `${path}.glue.catalogId`, accountId)
    if (catalogId !== undefined) config.glue.catalogId = catalogId
  } else if (type === 'qubole') {
    const q = section(obj.qubole ?? null, `${path}.qubole`, ['url', 'token', 'tokenEnv', 'pollSeconds', 'timeoutSeconds'])
    if (!isAbsent(q.token)) throw new ConfigError(`${path}.qubole.token`, 'not allowed; put the token in an environment variable and name it in tokenEnv')
    config.qubole = {
      url: required(q.url, `${path}.qubole.url`, httpUrl),
      tokenEnv: withDefault(q.tokenEnv, `${path}.qubole.tokenEnv`, finalizerDefaults.qubole.tokenEnv, envName),
      pollSeconds: withDefault(q.pollSeconds, `${path}.qubole.pollSeconds`, finalizerDefaults.qubole.pollSeconds, integer(1)),
      timeoutSeconds: withDefault(q.timeoutSeconds, `${path}.qubole.timeoutSeconds`, finalizerDefaults.qubole.timeoutSeconds, integer(1))
    }
  }
  return config
}

function sqlIdentifier (value: unknown, path: string): string {
  const name = nonEmptyString(value, path)
  if (!IDENTIFIER.test(name)) throw new ConfigError(path, `must be a name of letters, digits and "_" (not starting with a digit), got ${describe(value)}`)
  return name
}

function tablePattern (value: unknown, path: string): string {
  const name = nonEmptyString(value, path)
  if (!IDENTIFIER.test(name.replaceAll('{topic}', 't'))) {
    throw new ConfigError(path, `must be a name of letters, digits and "_", optionally with {topic}, got ${describe(value)}`)
  }
  return name
}

function commandLine (value: unknown, path: string): string[] {
  return nonEmptyArray(value, path, 'strings (program and arguments)').map((item, i) => {
    if (typeof item !== 'string' || (i === 0 && item.trim() === '')) throw new ConfigError(`${path}[${i}]`, `must be a${i === 0 ? ' non-empty' : ''} string, got ${describe(item)}`)
    return item
  })
}

function locationUrl (value: unknown, path: string): string {
  const url = nonEmptyString(value, path).replace(/\/+$/, '')
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/i.test(url)) throw new ConfigError(path, `must be a URL like "s3://bucket" or "s3a://bucket/base", got ${describe(value)}`)
  return url
}

function accountId (value: unknown, path: string): string {
  const id = typeof value === 'number' ? String(value) : nonEmptyString(value, path)
  if (!/^\d{12}$/.test(id)) throw new ConfigError(path, `must be a 12-digit AWS account id, got ${describe(value)}`)
  return id
}

function envName (value: unknown, path: string): string {
  const name = nonEmptyString(value, path)
  if (!IDENTIFIER.test(name)) throw new ConfigError(path, `must be an environment variable name, got ${describe(value)}`)
  return name
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
    const reserved = reservedTopicProblem(topic)
    if (reserved !== undefined) throw new ConfigError(itemPath, reserved)
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
  checkRelativePath(template, path)
  // Syntax and tokens; whether each `{name}` is a declared parser field is checked in checkTemplateFields.
  compileTemplate(template, path, templateFieldNames(template))
  return template
}

/** Every `{name}` of the template must be a field the parser extracts (a typo would silently write `__HIVE_DEFAULT_PARTITION__`). */
function checkTemplateFields (config: SedimentConfig): SedimentConfig {
  const declared = Object.keys((config.parser as { fields?: Record<string, unknown> }).fields ?? {})
  compileTemplate(config.partition.template, 'partition.template', declared)
  return config
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

/** For validators kept beside the client they configure (src/sources/kafka-security.ts). */
export { boolean, httpUrl, integer, isAbsent, isPlainObject, nonEmptyString, oneOf, optional, required, secretString, section, withDefault }
