import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { applyEnvOverrides, envOverrides, validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'
import { parseStage } from '../../src/stages/parse.js'

const MiB = 1024 * 1024

function minimal (): Record<string, any> {
  return {
    kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'] },
    sink: { bucket: 'my-bucket' }
  }
}

/** minimal() with `value` set at a dotted path (undefined deletes the key). */
function withValue (path: string, value: unknown): Record<string, any> {
  const raw = minimal()
  const keys = path.split('.')
  let node = raw
  for (const key of keys.slice(0, -1)) node = node[key] ??= {}
  if (value === undefined) delete node[keys.at(-1)!]
  else node[keys.at(-1)!] = value
  return raw
}

function rejects (raw: unknown, path: string, message?: RegExp): ConfigError {
  try {
    validateConfig(raw)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.path, path, err.message)
    assert.equal(err.code, 'SEDIMENT_CONFIG')
    if (message !== undefined) assert.match(err.message, message)
    return err
  }
  assert.fail(`expected ${path} to be rejected`)
}

describe('validateConfig defaults', () => {
  test('a minimal config gets every default', () => {
    assert.deepEqual(validateConfig(minimal()), {
      kafka: {
        brokers: ['localhost:9092'],
        groupId: 'g',
        clientId: 'sediment',
        topics: ['events'],
        topicRefreshSeconds: 60,
        autoOffsetReset: 'earliest',
        isolationLevel: 'read_committed',
        sessionTimeoutMs: 30000,
        heartbeatIntervalMs: 3000,
        rebalanceTimeoutMs: 60000,
        maxBytesPerPartition: 1048576,
        ssl: false,
        connectionTimeoutMs: 10000
      },
      parser: { type: 'json', timestampField: 'timestamp', maxMessageBytes: 8388608, timestampBounds: { maxFutureSeconds: 604800 } },
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
      sink: { type: 's3', bucket: 'my-bucket', prefix: '', region: 'us-east-1', forcePathStyle: false, socketTimeoutMs: 30000, checksum: 'when-supported' },
      generation: 1,
      log: { level: 'info', pretty: false, progressSeconds: 30 },
      metrics: { enabled: true, host: '127.0.0.1', port: 9464, lagIntervalSeconds: 15, readyzUploadFailureSeconds: 60 }
    })
  })

  test('null values (YAML "key:") mean the default', () => {
    const raw = withValue('upload', { maxFileBytes: null, uploadOnShutdown: null })
    raw.parser = null
    const config = validateConfig(raw)
    assert.equal(config.upload.maxFileBytes, 100 * MiB)
    assert.equal(config.upload.uploadOnShutdown, true)
    assert.equal(config.parser.type, 'json')
  })

  test('explicit values are kept', () => {
    const config = validateConfig({
      ...minimal(),
      kafka: {
        brokers: ['a:1', '[::1]:9093', 'kafka_1.local:9092'],
        groupId: 'g',
        topics: ['a', 'b.c'],
        ssl: true,
        sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' }
      },
      output: { compression: 'none', compressionLevel: 9 },
      upload: { uploadOnShutdown: false, partSizeBytes: 5 * MiB, maxBufferedBytes: 5 * MiB },
      generation: 0,
      log: { level: 'silent' }
    })
    assert.deepEqual(config.kafka.brokers, ['a:1', '[::1]:9093', 'kafka_1.local:9092'])
    assert.deepEqual(config.kafka.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' })
    assert.equal(config.output.compression, 'none')
    assert.equal(config.upload.uploadOnShutdown, false)
    assert.equal(config.generation, 0)
    assert.equal(config.log.level, 'silent')
  })

  test('parser limits: explicit values are kept, 0 disables the future bound, null means the default', () => {
    const config = validateConfig(withValue('parser', {
      type: 'kafka-timestamp', maxMessageBytes: 1024, timestampBounds: { notBefore: ' 2020-01-01 ', maxFutureSeconds: 0 }
    }))
    assert.deepEqual(config.parser, {
      type: 'kafka-timestamp', timestampField: 'timestamp', maxMessageBytes: 1024, timestampBounds: { notBefore: '2020-01-01', maxFutureSeconds: 0 }
    })
    const dateTime = validateConfig(withValue('parser.timestampBounds', { notBefore: '2020-01-01T00:00:00+02:00', maxFutureSeconds: null }))
    assert.deepEqual(dateTime.parser.timestampBounds, { notBefore: '2020-01-01T00:00:00+02:00', maxFutureSeconds: 604800 })
    assert.deepEqual(validateConfig(withValue('parser.timestampBounds', null)).parser.timestampBounds, { maxFutureSeconds: 604800 })
    assert.deepEqual(validateConfig(withValue('parser.timestampBounds', { notBefore: null })).parser.timestampBounds, { maxFutureSeconds: 604800 })
  })

  test('a validated parser section is accepted by the parse stage as is', () => {
    const config = validateConfig(withValue('parser', { maxMessageBytes: 4096, timestampBounds: { notBefore: '2020-01-01T12:30Z' } }))
    assert.doesNotThrow(() => parseStage({ ...config.parser }))
    assert.doesNotThrow(() => parseStage({ ...validateConfig(minimal()).parser }))
  })

  test('the file sink needs a directory and gets no bucket', () => {
    const config = validateConfig({ kafka: minimal().kafka, sink: { type: 'file', directory: '/data', prefix: '/x/y/' } })
    assert.deepEqual(config.sink, { type: 'file', directory: '/data', prefix: 'x/y', region: 'us-east-1', forcePathStyle: false })
  })

  test('sink.prefix is normalised', () => {
    assert.equal(validateConfig(withValue('sink.prefix', '/raw/kafka/')).sink.prefix, 'raw/kafka')
    assert.equal(validateConfig(withValue('sink.prefix', '/')).sink.prefix, '')
  })
})

describe('validateConfig input handling', () => {
  test('does not mutate or retain the input', () => {
    const raw = withValue('sink.credentials', { accessKeyId: 'a', secretAccessKey: 's' })
    raw.sink.prefix = '/p/'
    const snapshot = structuredClone(raw)
    const config = validateConfig(raw)
    assert.deepEqual(raw, snapshot)
    assert.notEqual(config.kafka.brokers, raw.kafka.brokers)
    assert.notEqual(config.kafka.topics, raw.kafka.topics)
    assert.notEqual(config.sink.credentials, raw.sink.credentials)
    raw.kafka.brokers.push('other:1')
    raw.sink.credentials.accessKeyId = 'changed'
    assert.deepEqual(config.kafka.brokers, ['localhost:9092'])
    assert.equal(config.sink.credentials?.accessKeyId, 'a')
  })

  test('two results do not share objects', () => {
    const a = validateConfig(minimal())
    const b = validateConfig(minimal())
    a.upload.maxFileBytes = 1
    assert.equal(b.upload.maxFileBytes, 100 * MiB)
  })

  test('the root must be a mapping', () => {
    rejects(null, '', /must be a mapping, got null/)
    rejects(['x'], '', /got a list/)
    rejects('kafka', '', /got "kafka"/)
  })

  test('a section must be a mapping', () => {
    rejects(withValue('upload', 5), 'upload', /must be a mapping, got 5/)
    rejects(withValue('kafka.sasl', 'plain'), 'kafka.sasl', /must be a mapping/)
  })
})

describe('validateConfig unknown keys', () => {
  test('are rejected with their path and a suggestion', () => {
    rejects(withValue('upload.maxFileByte', 5), 'upload.maxFileByte', /unknown key \(did you mean "maxFileBytes"\?\)/)
    rejects(withValue('kafka.group_id', 'x'), 'kafka.group_id', /did you mean "groupId"/)
    rejects(withValue('kafak', {}), 'kafak', /did you mean "kafka"/)
    rejects(withValue('sink.credentials', { accessKeyId: 'a', secretAccessKey: 'b', token: 'c' }), 'sink.credentials.token')
  })

  test('without a near match, the allowed keys are listed', () => {
    rejects(withValue('log.verbosity', 'x'), 'log.verbosity', /unknown key \(allowed: level, pretty, progressSeconds\)/)
  })

  test('in parser.timestampBounds', () => {
    rejects(withValue('parser.timestampBounds.maxFutureSecond', 60), 'parser.timestampBounds.maxFutureSecond', /did you mean "maxFutureSeconds"/)
    rejects(withValue('parser.timestampBounds.notAfter', '2030-01-01'), 'parser.timestampBounds.notAfter', /unknown key/)
    rejects(withValue('parser.maxMessageByte', 2048), 'parser.maxMessageByte', /did you mean "maxMessageBytes"/)
  })

  test('are reported before value errors of the same section', () => {
    // "topic" instead of "topics" must not be reported as "exactly one of topics or topicPattern".
    const raw = minimal()
    raw.kafka = { brokers: ['a:1'], groupId: 'g', topic: ['x'] }
    rejects(raw, 'kafka.topic', /did you mean "topics"/)
  })

  test('settings of the other sink type are rejected', () => {
    rejects(withValue('sink.directory', '/tmp'), 'sink.directory', /not allowed when sink.type is "s3"/)
    rejects({ kafka: minimal().kafka, sink: { type: 'file', directory: '/d', checksum: 'when-required' } }, 'sink.checksum', /not allowed when sink.type is "file"/)
    rejects({ kafka: minimal().kafka, sink: { type: 'file', directory: '/d', bucket: 'b' } }, 'sink.bucket', /not allowed when sink.type is "file"/)
  })

  test('sink.checksum: when-supported (default) or when-required', () => {
    rejects(withValue('sink.checksum', 'never'), 'sink.checksum', /when-supported/)
  })

  test('a literal __proto__ key is an unknown key, not a prototype', () => {
    const raw = JSON.parse('{"kafka":{"brokers":["a:1"],"groupId":"g","topics":["t"]},"sink":{"bucket":"bbb"},"__proto__":{"x":1}}')
    rejects(raw, '__proto__', /unknown key/)
  })
})

describe('validateConfig invalid values name their path', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['upload.maxFileBytes', 'abc', /^upload\.maxFileBytes: must be an integer >= 1024, got "abc"$/],
    ['upload.maxFileBytes', 1023, /must be an integer >= 1024, got 1023/],
    ['upload.maxFileBytes', 2048.5, /got 2048\.5/],
    ['upload.maxFileAgeSeconds', 0, /integer >= 1/],
    ['upload.partSizeBytes', 5 * MiB - 1, /between 5242880 and/],
    ['upload.maxConcurrentParts', 0, /integer >= 1/],
    ['upload.uploadOnShutdown', 'yes', /must be true or false, got "yes"/],
    ['output.compressionLevel', 0, /between 1 and 9, got 0/],
    ['output.compressionLevel', 10, /between 1 and 9, got 10/],
    ['output.compression', 'lz4', /must be one of "gzip", "zstd", "snappy", "none", got "lz4"/],
    ['output.format', 'avro', /must be one of "jsonl", "csv", "raw", "parquet"/],
    ['parser.type', 'xml', /must be one of "json", "kafka-timestamp"/],
    ['parser.timestampField', 'meta..ts', /dotted path/],
    ['parser.timestampField', '', /non-empty string/],
    ['parser.maxMessageBytes', 1023, /^parser\.maxMessageBytes: must be an integer >= 1024, got 1023$/],
    ['parser.maxMessageBytes', '8MiB', /must be an integer >= 1024, got "8MiB"/],
    ['parser.maxMessageBytes', 2048.5, /got 2048\.5/],
    ['parser.timestampBounds', 5, /^parser\.timestampBounds: must be a mapping, got 5$/],
    ['parser.timestampBounds.notBefore', 'yesterday', /^parser\.timestampBounds\.notBefore: not an ISO-8601 date or date-time .*got "yesterday"$/],
    ['parser.timestampBounds.notBefore', '2026-02-30', /not an ISO-8601 date/],
    ['parser.timestampBounds.notBefore', '2026-01-01T25:00:00Z', /not an ISO-8601 date/],
    ['parser.timestampBounds.notBefore', '1577836800', /not an ISO-8601 date/],
    ['parser.timestampBounds.notBefore', 20200101, /not an ISO-8601 date.*got 20200101$/],
    ['parser.timestampBounds.notBefore', '', /not an ISO-8601 date/],
    ['parser.timestampBounds.maxFutureSeconds', -1, /^parser\.timestampBounds\.maxFutureSeconds: must be an integer >= 0, got -1$/],
    ['parser.timestampBounds.maxFutureSeconds', 1.5, /integer >= 0, got 1\.5/],
    ['parser.timestampBounds.maxFutureSeconds', '7d', /integer >= 0, got "7d"/],
    ['kafka.brokers', [], /non-empty list of host:port/],
    ['kafka.brokers', 'localhost:9092', /non-empty list of host:port strings, got "localhost:9092"/],
    ['kafka.brokers', undefined, /^kafka\.brokers: required$/],
    ['kafka.groupId', undefined, /required/],
    ['kafka.groupId', '  ', /non-empty string/],
    ['kafka.clientId', 3, /non-empty string, got 3/],
    ['kafka.autoOffsetReset', 'smallest', /"earliest", "latest"/],
    ['kafka.sessionTimeoutMs', 30, /integer >= 1000, got 30/],
    ['kafka.ssl', 'true', /true or false/],
    ['generation', -1, /^generation: must be an integer >= 0, got -1$/],
    ['generation', '1', /got "1"/],
    ['log.level', 'verbose', /"fatal", "error", "warn", "info", "debug", "trace", "silent"/],
    ['sink.type', 'gcs', /"s3", "file"/],
    ['sink.bucket', undefined, /^sink\.bucket: required when sink.type is "s3"$/],
    ['sink.bucket', 'ab', /3\.\.63 characters/],
    ['sink.bucket', 'x'.repeat(64), /3\.\.63 characters/],
    ['sink.bucket', 's3://bucket/path', /bucket name only/],
    ['sink.endpoint', 'minio:9000', /http:\/\/ or https:\/\/ URL/],
    ['sink.region', 'us east', /whitespace/],
    ['sink.forcePathStyle', 1, /true or false/],
    ['sink.prefix', 'a/../b', /"\." or "\.\." segments/],
    ['sink.prefix', 'a//b', /empty path segments/],
    ['sink.prefix', 5, /must be a string/]
  ]
  for (const [path, value, message] of cases) {
    test(`${path} = ${JSON.stringify(value)?.slice(0, 30)}`, () => { rejects(withValue(path, value), path, message) })
  }

  test('broker entries name their index', () => {
    rejects(withValue('kafka.brokers', ['a:1', 'nohost']), 'kafka.brokers[1]', /must be host:port/)
    rejects(withValue('kafka.brokers', ['a:0']), 'kafka.brokers[0]', /port 1\.\.65535/)
    rejects(withValue('kafka.brokers', ['a:65536']), 'kafka.brokers[0]')
    rejects(withValue('kafka.brokers', ['http://a:9092']), 'kafka.brokers[0]')
    rejects(withValue('kafka.brokers', [9092]), 'kafka.brokers[0]', /non-empty string, got 9092/)
  })

  test('topics must be valid, unique Kafka topic names', () => {
    rejects(withValue('kafka.topics', []), 'kafka.topics', /non-empty list/)
    rejects(withValue('kafka.topics', ['ok', 'not ok']), 'kafka.topics[1]', /Kafka topic name/)
    rejects(withValue('kafka.topics', ['..']), 'kafka.topics[0]')
    rejects(withValue('kafka.topics', ['a', 'a']), 'kafka.topics[1]', /duplicate topic "a"/)
  })

  test('exactly one of topics or topicPattern', () => {
    rejects(withValue('kafka.topics', undefined), 'kafka', /^kafka: exactly one of topics or topicPattern is required$/)
    rejects(withValue('kafka.topicPattern', '^x'), 'kafka', /exactly one of topics or topicPattern is required, got both/)
  })

  test('sessionTimeoutMs must exceed heartbeatIntervalMs', () => {
    const raw = withValue('kafka.heartbeatIntervalMs', 30000)
    rejects(raw, 'kafka.sessionTimeoutMs', /must exceed kafka\.heartbeatIntervalMs \(30000\), got 30000/)
    raw.kafka.sessionTimeoutMs = 30001
    assert.equal(validateConfig(raw).kafka.sessionTimeoutMs, 30001)
  })

  test('maxBufferedBytes must hold at least one part', () => {
    rejects(withValue('upload', { partSizeBytes: 16 * MiB, maxBufferedBytes: 8 * MiB }), 'upload.maxBufferedBytes', /partSizeBytes/)
  })

  test('sasl fields are required, and the password is never echoed', () => {
    rejects(withValue('kafka.sasl', { mechanism: 'plain', username: 'u' }), 'kafka.sasl.password', /required/)
    rejects(withValue('kafka.sasl', { mechanism: 'gssapi', username: 'u', password: 'p' }), 'kafka.sasl.mechanism')
    const err = rejects(withValue('kafka.sasl', { mechanism: 'plain', username: 'u', password: 12345678 }), 'kafka.sasl.password')
    assert.doesNotMatch(err.message, /12345678/)
  })

  test('credentials need both keys', () => {
    rejects(withValue('sink.credentials', { accessKeyId: 'a' }), 'sink.credentials.secretAccessKey', /required/)
    rejects(withValue('sink.credentials', { secretAccessKey: 's' }), 'sink.credentials.accessKeyId', /required/)
  })

  test('the file sink requires a directory', () => {
    rejects({ kafka: minimal().kafka, sink: { type: 'file' } }, 'sink.directory', /required when sink.type is "file"/)
  })

  test('a missing kafka section reports its first required field', () => {
    rejects({ sink: { bucket: 'bbb' } }, 'kafka.brokers', /required/)
  })
})

describe('topicPattern', () => {
  function withPattern (pattern: unknown): Record<string, any> {
    const raw = withValue('kafka.topics', undefined)
    raw.kafka.topicPattern = pattern
    return raw
  }

  test('a valid pattern is kept as its source', () => {
    const config = validateConfig(withPattern('^logs\\..*'))
    assert.equal(config.kafka.topicPattern, '^logs\\..*')
    assert.equal('topics' in config.kafka, false)
    assert.ok(new RegExp(config.kafka.topicPattern!).test('logs.app'))
  })

  test('must compile', () => {
    rejects(withPattern('^logs(['), 'kafka.topicPattern', /valid regular expression/)
  })

  test('must not be a /literal/', () => {
    rejects(withPattern('/^logs/'), 'kafka.topicPattern', /without surrounding slashes/)
    rejects(withPattern('/^logs/i'), 'kafka.topicPattern', /without surrounding slashes/)
  })

  test('must be a non-empty string', () => {
    rejects(withPattern(''), 'kafka.topicPattern', /non-empty string/)
    rejects(withPattern(['^a']), 'kafka.topicPattern', /non-empty string, got a list/)
  })
})

describe('partition.template', () => {
  test('accepts every token', () => {
    const template = '{topic}/{YYYY}/{MM}/{DD}/{HH}/{mm}'
    assert.equal(validateConfig(withValue('partition.template', template)).partition.template, template)
    assert.equal(validateConfig(withValue('partition.template', 'year={YYYY}/x')).partition.template, 'year={YYYY}/x')
  })

  test('rejects unknown tokens and stray braces', () => {
    rejects(withValue('partition.template', 'dt={YYYY}-{M}'), 'partition.template', /unknown token \{M\}; allowed: \{YYYY\} \{MM\} \{DD\} \{HH\} \{mm\} \{mm:N\} \{topic\} \{offset:N\}/)
    rejects(withValue('partition.template', '{yyyy}'), 'partition.template', /unknown token \{yyyy\}/)
    // A field token needs the field declared in parser.fields.
    rejects(withValue('partition.template', '{field}'), 'partition.template', /unknown token \{field\}/)
    rejects(withValue('partition.template', '{mm:7}'), 'partition.template', /N dividing 60/)
    rejects(withValue('partition.template', 'dt={YYYY'), 'partition.template', /unbalanced brace/)
    rejects(withValue('partition.template', 'dt=YYYY}'), 'partition.template', /unbalanced brace/)
  })

  test('rejects unsafe paths', () => {
    rejects(withValue('partition.template', '/dt={YYYY}'), 'partition.template', /must not start with "\/"/)
    rejects(withValue('partition.template', '../{YYYY}'), 'partition.template', /"\.\." segments/)
    rejects(withValue('partition.template', '{YYYY}/../x'), 'partition.template', /"\.\." segments/)
    rejects(withValue('partition.template', '{YYYY}//{MM}'), 'partition.template', /empty path segments/)
    rejects(withValue('partition.template', '{YYYY}/'), 'partition.template', /empty path segments/)
    rejects(withValue('partition.template', ''), 'partition.template', /non-empty string/)
  })

  test('a ".." inside a segment name is fine', () => {
    assert.equal(validateConfig(withValue('partition.template', 'a..b/{YYYY}')).partition.template, 'a..b/{YYYY}')
  })
})

describe('partition.timezone', () => {
  test('accepts IANA names', () => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
      assert.equal(validateConfig(withValue('partition.timezone', zone)).partition.timezone, zone)
    }
  })

  test('rejects unknown zones', () => {
    rejects(withValue('partition.timezone', 'Mars/Olympus'), 'partition.timezone', /IANA time zone.*got "Mars\/Olympus"/)
    rejects(withValue('partition.timezone', 'CEST+2'), 'partition.timezone')
    rejects(withValue('partition.timezone', 2), 'partition.timezone', /non-empty string/)
  })
})

describe('applyEnvOverrides', () => {
  test('is pure and returns a new object', () => {
    const raw = minimal()
    const snapshot = structuredClone(raw)
    const out = applyEnvOverrides(raw, { SEDIMENT_SINK_BUCKET: 'other', SEDIMENT_KAFKA_BROKERS: 'b:1' }) as any
    assert.deepEqual(raw, snapshot)
    assert.notEqual(out, raw)
    assert.notEqual(out.kafka, raw.kafka)
    assert.equal(out.sink.bucket, 'other')
  })

  test('without overrides, returns an equal copy', () => {
    const raw = minimal()
    const out = applyEnvOverrides(raw, {})
    assert.deepEqual(out, raw)
    assert.notEqual(out, raw)
  })

  test('sets every variable at its path', () => {
    const out = applyEnvOverrides(minimal(), {
      SEDIMENT_KAFKA_BROKERS: ' k1:9092, k2:9092 ,,',
      SEDIMENT_KAFKA_GROUP_ID: 'group-2',
      SEDIMENT_SINK_BUCKET: 'bucket-2',
      SEDIMENT_SINK_ENDPOINT: 'http://minio:9000',
      SEDIMENT_SINK_REGION: 'eu-west-1',
      SEDIMENT_SINK_PREFIX: '/env/prefix/',
      SEDIMENT_SINK_ACCESS_KEY_ID: 'AKID',
      SEDIMENT_SINK_SECRET_ACCESS_KEY: 'SECRET',
      SEDIMENT_SINK_SESSION_TOKEN: 'TOKEN',
      SEDIMENT_LOG_LEVEL: 'debug',
      SEDIMENT_METRICS_HOST: '0.0.0.0',
      AWS_ACCESS_KEY_ID: 'ignored here: the AWS SDK reads it'
    })
    const config = validateConfig(out)
    assert.deepEqual(config.kafka.brokers, ['k1:9092', 'k2:9092'])
    assert.equal(config.kafka.groupId, 'group-2')
    assert.equal(config.sink.bucket, 'bucket-2')
    assert.equal(config.sink.endpoint, 'http://minio:9000')
    assert.equal(config.sink.region, 'eu-west-1')
    assert.equal(config.sink.prefix, 'env/prefix')
    assert.deepEqual(config.sink.credentials, { accessKeyId: 'AKID', secretAccessKey: 'SECRET', sessionToken: 'TOKEN' })
    assert.equal(config.log.level, 'debug')
    assert.equal(config.metrics.host, '0.0.0.0')
  })

  test('creates missing sections, so a file may leave them to the environment', () => {
    const raw = { kafka: { topics: ['t'] } }
    const config = validateConfig(applyEnvOverrides(raw, {
      SEDIMENT_KAFKA_BROKERS: 'k:1', SEDIMENT_KAFKA_GROUP_ID: 'g', SEDIMENT_SINK_BUCKET: 'bbb'
    }))
    assert.equal(config.sink.bucket, 'bbb')
    assert.equal(applyEnvOverrides(null, { SEDIMENT_LOG_LEVEL: 'warn' }) instanceof Object, true)
  })

  test('empty variables are ignored', () => {
    const out = applyEnvOverrides(minimal(), { SEDIMENT_SINK_BUCKET: '', SEDIMENT_KAFKA_BROKERS: '' }) as any
    assert.equal(out.sink.bucket, 'my-bucket')
    assert.deepEqual(out.kafka.brokers, ['localhost:9092'])
  })

  test('env credentials replace file credentials as a whole', () => {
    const raw = withValue('sink.credentials', { accessKeyId: 'file', secretAccessKey: 'file', sessionToken: 'file' })
    const out = applyEnvOverrides(raw, { SEDIMENT_SINK_ACCESS_KEY_ID: 'env', SEDIMENT_SINK_SECRET_ACCESS_KEY: 'env' }) as any
    assert.deepEqual(out.sink.credentials, { accessKeyId: 'env', secretAccessKey: 'env' })
  })

  test('half a key pair is an error', () => {
    assert.throws(() => applyEnvOverrides(minimal(), { SEDIMENT_SINK_ACCESS_KEY_ID: 'a' }),
      (err: unknown) => err instanceof ConfigError && err.path === 'sink.credentials' && /must be set together/.test(err.message))
    assert.throws(() => applyEnvOverrides(minimal(), { SEDIMENT_SINK_SESSION_TOKEN: 't' }),
      (err: unknown) => err instanceof ConfigError && err.path === 'sink.credentials')
  })

  test('a section that is not a mapping is left for validation to report', () => {
    const out = applyEnvOverrides({ ...minimal(), kafka: 'oops' }, { SEDIMENT_KAFKA_BROKERS: 'a:1' })
    rejects(out, 'kafka', /must be a mapping, got "oops"/)
  })

  test('envOverrides lists every variable with its config path', () => {
    assert.deepEqual(Object.keys(envOverrides).sort(), [
      'SEDIMENT_KAFKA_BROKERS', 'SEDIMENT_KAFKA_GROUP_ID', 'SEDIMENT_KAFKA_SASL_CLIENT_SECRET', 'SEDIMENT_KAFKA_SASL_PASSWORD',
      'SEDIMENT_KAFKA_SASL_USERNAME', 'SEDIMENT_KAFKA_SSL_CA', 'SEDIMENT_KAFKA_SSL_CERT', 'SEDIMENT_KAFKA_SSL_KEY',
      'SEDIMENT_KAFKA_SSL_KEY_PASSWORD', 'SEDIMENT_LOG_LEVEL', 'SEDIMENT_METRICS_HOST', 'SEDIMENT_SINK_ACCESS_KEY_ID', 'SEDIMENT_SINK_AZURE_CONNECTION_STRING', 'SEDIMENT_SINK_AZURE_CONTAINER_URL',
      'SEDIMENT_SINK_BUCKET', 'SEDIMENT_SINK_ENDPOINT', 'SEDIMENT_SINK_PREFIX', 'SEDIMENT_SINK_REGION',
      'SEDIMENT_SINK_SECRET_ACCESS_KEY', 'SEDIMENT_SINK_SESSION_TOKEN'
    ])
    assert.equal(envOverrides.SEDIMENT_SINK_BUCKET, 'sink.bucket')
  })
})

describe('loadConfig', () => {
  async function withFile (name: string, text: string, fn: (file: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'sediment-config-'))
    try {
      const file = join(dir, name)
      await writeFile(file, text)
      await fn(file)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  test('reads YAML and JSON', async () => {
    await withFile('c.yaml', 'kafka:\n  brokers: [a:1]\n  groupId: g\n  topics: [t]\nsink:\n  bucket: bbb\n', async file => {
      assert.equal((await loadConfig(file, {})).sink.bucket, 'bbb')
    })
    await withFile('c.json', JSON.stringify(minimal()), async file => {
      assert.equal((await loadConfig(file, {})).sink.bucket, 'my-bucket')
    })
  })

  test('an unquoted YAML date for notBefore stays a date string', async () => {
    const yaml = 'kafka:\n  brokers: [a:1]\n  groupId: g\n  topics: [t]\nsink:\n  bucket: bbb\n' +
      'parser:\n  maxMessageBytes: 1048576\n  timestampBounds:\n    notBefore: 2020-01-01\n    maxFutureSeconds: 3600\n'
    await withFile('c.yaml', yaml, async file => {
      const config = await loadConfig(file, {})
      assert.deepEqual(config.parser.timestampBounds, { notBefore: '2020-01-01', maxFutureSeconds: 3600 })
      assert.equal(config.parser.maxMessageBytes, 1048576)
    })
    await withFile('c11.yaml', `%YAML 1.1\n---\n${yaml}`, async file => {
      assert.equal((await loadConfig(file, {})).parser.timestampBounds.notBefore, '2020-01-01T00:00:00.000Z')
    })
  })

  test('a missing file is a ConfigError with a clear message', async () => {
    await assert.rejects(loadConfig('/nonexistent/sediment.yaml', {}),
      (err: unknown) => err instanceof ConfigError && err.path === '' &&
        err.message === 'cannot read config file /nonexistent/sediment.yaml: no such file')
  })

  test('a syntax error names line and column', async () => {
    await withFile('c.yaml', 'kafka:\n  brokers: [a:1\n  groupId: g\n', async file => {
      await assert.rejects(loadConfig(file, {}), (err: unknown) =>
        err instanceof ConfigError && /^cannot parse config file .*c\.yaml at line \d+, column \d+: /.test(err.message))
    })
  })

  test('duplicate keys and empty files are errors', async () => {
    await withFile('c.yaml', 'log:\n  level: info\nlog:\n  level: debug\n', async file => {
      await assert.rejects(loadConfig(file, {}), /at line 3, column 1: Map keys must be unique/)
    })
    await withFile('c.yaml', '# nothing\n', async file => {
      await assert.rejects(loadConfig(file, {}), /is empty/)
    })
  })

  test('applies env overrides and names the variable when its value is invalid', async () => {
    await withFile('c.json', JSON.stringify(minimal()), async file => {
      assert.equal((await loadConfig(file, { SEDIMENT_SINK_BUCKET: 'from-env' })).sink.bucket, 'from-env')
      await assert.rejects(loadConfig(file, { SEDIMENT_KAFKA_BROKERS: 'nope' }), (err: unknown) =>
        err instanceof ConfigError && err.path === 'kafka.brokers[0]' && /\(set by SEDIMENT_KAFKA_BROKERS\)$/.test(err.message))
      await assert.rejects(loadConfig(file, { SEDIMENT_LOG_LEVEL: 'loud' }), /ConfigError: log\.level: must be one of .*got "loud" \(set by SEDIMENT_LOG_LEVEL\)$/)
    })
  })

  test('an error outside the overridden values does not blame the environment', async () => {
    await withFile('c.json', JSON.stringify(withValue('kafka.topics', undefined)), async file => {
      await assert.rejects(loadConfig(file, { SEDIMENT_KAFKA_BROKERS: 'a:1' }), (err: unknown) =>
        err instanceof ConfigError && err.path === 'kafka' && !err.message.includes('SEDIMENT_'))
    })
  })
})
