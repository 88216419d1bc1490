import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { validateConfig } from '../../../src/config/options.js'
import { loadConfig } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'
import { parseStage } from '../../../src/stages/parse.js'
import { describeParser } from '../../../src/stages/parsers/registry.js'

function config (parser: unknown): Record<string, unknown> {
  return { kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'] }, sink: { bucket: 'my-bucket' }, parser }
}

test('parser config: the new keys are validated, kept, and absent unless set', () => {
  assert.deepEqual(Object.keys(validateConfig(config(undefined)).parser), ['type', 'timestampField', 'maxMessageBytes', 'timestampBounds'])
  const parser = validateConfig(config({
    type: 'json',
    timestampField: 'meta.ts',
    timestampFormat: 'yyyy-MM-dd HH:mm:ss',
    timezone: 'Europe/Berlin',
    fallback: { policy: 'fixed', date: '2020-01-01' },
    fields: { eventType: 'meta.type' },
    split: 'lines',
    module: './transform.js'
  })).parser
  assert.deepEqual(parser, {
    type: 'json',
    timestampField: 'meta.ts',
    maxMessageBytes: 8388608,
    timestampBounds: { maxFutureSeconds: 604800 },
    timestampFormat: 'yyyy-MM-dd HH:mm:ss',
    timezone: 'Europe/Berlin',
    fallback: { policy: 'fixed', date: '2020-01-01' },
    fields: { eventType: 'meta.type' },
    split: 'lines',
    module: './transform.js'
  })
  assert.doesNotThrow(() => parseStage({ ...parser, module: undefined }), 'a validated section is accepted by the stage as is')
  assert.deepEqual(validateConfig(config({ type: 'header', header: { name: 'ts' } })).parser.header, { name: 'ts', encoding: 'text' })
  assert.deepEqual(validateConfig(config({ type: 'avro', avro: { registryUrl: 'http://registry:8081' } })).parser.avro, { registryUrl: 'http://registry:8081' })
  assert.deepEqual(validateConfig(config({ type: 'regex', regex: { pattern: '(?<timestamp>\\d+)', flags: 'i' } })).parser.regex, { pattern: '(?<timestamp>\\d+)', flags: 'i' })
})

test('parser config errors name their path', () => {
  const cases: Array<[unknown, string, RegExp?]> = [
    [{ type: 'xml' }, 'parser.type', /"json", "kafka-timestamp", "header", "regex", "msgpack", "protobuf", "avro", "thrift", "custom"/],
    [{ timestampFormat: 'HH:mm' }, 'parser.timestampFormat', /needs a year/],
    [{ timezone: 'Mars/Base' }, 'parser.timezone'],
    [{ fallback: { policy: 'guess' } }, 'parser.fallback.policy'],
    [{ fallback: {} }, 'parser.fallback.policy', /required/],
    [{ fallback: { policy: 'fixed' } }, 'parser.fallback.date', /policy "fixed" needs/],
    [{ fallback: { policy: 'kafka-timestamp', date: '2020-01-01' } }, 'parser.fallback.date', /only applies to policy "fixed"/],
    [{ fallback: { policy: 'fixed', date: 'soon' } }, 'parser.fallback.date'],
    [{ fallback: { polcy: 'fixed' } }, 'parser.fallback.polcy', /did you mean "policy"/],
    [{ fields: ['a'] }, 'parser.fields'],
    [{ fields: { eventType: 'a..b' } }, 'parser.fields.eventType'],
    [{ fields: { 'event-type': 'a' } }, 'parser.fields.event-type', /token name/],
    [{ fields: { HH: 'a' } }, 'parser.fields.HH', /built-in/],
    [{ split: 'words' }, 'parser.split'],
    [{ type: 'msgpack', split: 'lines' }, 'parser.split', /binary/],
    [{ type: 'custom' }, 'parser.module', /required/],
    [{ module: '' }, 'parser.module'],
    [{ type: 'header' }, 'parser.header', /required/],
    [{ type: 'header', header: {} }, 'parser.header.name', /required/],
    [{ type: 'header', header: { name: 'ts', encoding: 'hex' } }, 'parser.header.encoding'],
    [{ type: 'json', header: { name: 'ts' } }, 'parser.header', /only applies to parser.type "header"/],
    [{ type: 'regex', regex: { pattern: '[' } }, 'parser.regex.pattern', /valid regular expression/],
    [{ type: 'regex', regex: { pattern: '(?<t>x)' } }, 'parser.regex.pattern', /no named group "timestamp"/],
    [{ type: 'regex', regex: { pattern: '(?<timestamp>x)', flags: 'gy' } }, 'parser.regex.flags'],
    [{ type: 'protobuf', protobuf: { file: 'a.proto' } }, 'parser.protobuf.messageType', /required/],
    [{ type: 'protobuf', protobuf: { file: 'a.proto', messageType: 'A', typo: 1 } }, 'parser.protobuf.typo'],
    [{ type: 'avro', avro: {} }, 'parser.avro', /exactly one of/],
    [{ type: 'avro', avro: { registryUrl: 'registry:8081' } }, 'parser.avro.registryUrl'],
    [{ type: 'msgpack', protobuf: { file: 'a.proto', messageType: 'A' } }, 'parser.protobuf', /only applies/]
  ]
  for (const [parser, path, message] of cases) {
    assert.throws(() => validateConfig(config(parser)), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err))
      assert.equal(err.path, path, `${JSON.stringify(parser)}: ${err.message}`)
      if (message !== undefined) assert.match(err.message, message)
      return true
    })
  }
})

test('loadConfig resolves parser files against the config file directory', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-parser-config-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  await mkdir(join(dir, 'conf'))
  const write = async (name: string, parser: unknown): Promise<string> => {
    const file = join(dir, 'conf', name)
    await writeFile(file, JSON.stringify(config(parser)))
    return file
  }
  const custom = await loadConfig(await write('custom.json', { type: 'custom', module: './parsers/mine.mjs' }), {})
  assert.equal(custom.parser.module, join(dir, 'conf', 'parsers', 'mine.mjs'))
  const proto = await loadConfig(await write('proto.json', { type: 'protobuf', protobuf: { file: '../schemas/e.proto', messageType: 'E' } }), {})
  assert.equal(proto.parser.protobuf?.file, join(dir, 'schemas', 'e.proto'))
  const avsc = await loadConfig(await write('avro.json', { type: 'avro', avro: { schemaFile: '/abs/e.avsc' } }), {})
  assert.equal(avsc.parser.avro?.schemaFile, '/abs/e.avsc')
})

test('describeParser summarises the settings for `sediment validate`', () => {
  assert.equal(describeParser({ type: 'json', timestampField: 'ts' }), 'json, event time from "ts"')
  assert.equal(describeParser({ type: 'kafka-timestamp' }), 'kafka record timestamp')
  assert.equal(describeParser({ type: 'regex', timestampFormat: 'yyyy-MM-dd HH:mm:ss', timezone: 'Europe/Berlin', fallback: { policy: 'kafka-timestamp' }, fields: { level: 'level' }, split: 'lines' }),
    'regex, event time from group "timestamp"; format "yyyy-MM-dd HH:mm:ss" in Europe/Berlin; fallback kafka-timestamp; fields level; one record per line')
  assert.equal(describeParser({ type: 'avro', avro: { registryUrl: 'http://u:p@r' } }), 'avro (schema registry), event time from "timestamp"', 'no URL (it may hold credentials)')
})

test('library helpers: one per parser type, options as in the config', async () => {
  const { parseAvro, parseCustom, parseHeader, parseMsgpack, parseProtobuf, parseRegex, parseStage: stage } = await import('../../../src/index.js')
  assert.equal(typeof stage, 'function')
  assert.doesNotThrow(() => parseHeader({ header: { name: 'ts' } }))
  assert.doesNotThrow(() => parseRegex({ regex: { pattern: '(?<timestamp>\\d+)' } }))
  assert.doesNotThrow(() => parseMsgpack())
  assert.doesNotThrow(() => parseProtobuf({ protobuf: { file: 'e.proto', messageType: 'E' } }))
  assert.doesNotThrow(() => parseAvro({ avro: { registryUrl: 'http://127.0.0.1:1' } }))
  const custom = parseCustom({ module: { parse: () => null } })
  await custom.init()
  assert.equal(custom.filtered, 0)
})
