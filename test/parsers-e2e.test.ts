/**
 * Every parser end to end through the real service: one stack (librdkafka mock cluster + s3rver), one topic,
 * consumer group and sink prefix per parser, all services running at once in this process. Each proves its
 * records land exactly once (by partition and offset), in the dt/hr directory of their own event time, readable,
 * with every committed offset at the end of its partition; the few bad messages land once each in _errors/.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { test } from 'node:test'
import { encode as msgpackEncode } from '@msgpack/msgpack'
import avro from 'avsc'
import protobuf from 'protobufjs'
import { Kafka, logLevel, type Message } from 'kafkajs'
import { loadConfig } from '../src/config/load.js'
import { validateConfig } from '../src/config/options.js'
import { createLogger } from '../src/logger.js'
import { runService } from '../src/service.js'
import { allCommitted, dataObjects, serviceConfig, startStack, waitFor, writeConfig, type Stack } from './helpers/e2e.js'

const BASE = Date.UTC(2024, 2, 10, 5, 0) // 2024-03-10T05:00Z; Europe/Berlin is UTC+1 that day
const HOUR = 3_600_000
const PARTITIONS = 2
const PER_PARTITION = 120

interface Produced {
  partition: number
  value: Buffer | null
  timestamp?: number
  headers?: Record<string, string | Buffer>
}

interface Scenario {
  name: string
  parser: Record<string, unknown>
  partition?: Record<string, unknown>
  messages: Produced[]
  /** Record id → the directory (below the topic) it must land in. */
  expected: Map<string, string>
  badCount: number
  /** Reads a record id from an output line. */
  idOf?: (line: string) => string
}

function dirOf (ms: number): string {
  const iso = new Date(ms).toISOString()
  return `dt=${iso.slice(0, 10)}/hr=${iso.slice(11, 13)}`
}

/** Event time of the i-th message of a partition: spread over three hours, a little out of order. */
function timeOf (partition: number, i: number): number {
  return BASE + Math.floor((i / PER_PARTITION) * 3 * HOUR) + ((i * 7919 + partition * 104729) % 60_000) - 30_000 + 40_000
}

/** Builds a scenario: `make(partition, offset, id, ms)` gives the message for a good record. */
function scenario (name: string, parser: Record<string, unknown>, make: (p: number, offset: number, id: string, ms: number) => Produced, bad: Produced[] = [], extra: Partial<Scenario> = {}): Scenario {
  const messages: Produced[] = []
  const expected = new Map<string, string>()
  for (let p = 0; p < PARTITIONS; p++) {
    for (let i = 0; i < PER_PARTITION; i++) {
      const id = `${name}-${p}-${i}`
      const ms = timeOf(p, i)
      messages.push(make(p, i, id, ms))
      expected.set(id, dirOf(ms))
    }
  }
  // Bad messages go last on partition 0 (so good offsets stay 0..PER_PARTITION-1).
  for (const b of bad) messages.push({ ...b, partition: 0 })
  return { name, parser, messages, expected, badCount: bad.length, ...extra }
}

const json = (doc: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify(doc))

/** Thrift compact protocol, by the spec: field 1 binary (header 0x18), field 2 struct (0x1c) holding field 1 i64 (0x16, zigzag varint). */
function thriftCompact (id: string, ms: number): Buffer {
  const varint = (n: bigint): number[] => {
    const out: number[] = []
    do { const b = Number(n & 0x7fn); n >>= 7n; out.push(n > 0n ? b | 0x80 : b) } while (n > 0n)
    return out
  }
  const idBytes = Buffer.from(id)
  return Buffer.from([0x18, ...varint(BigInt(idBytes.length)), ...idBytes, 0x1c, 0x16, ...varint(BigInt(ms) * 2n), 0x00, 0x00])
}

function isoDateScenario (): Scenario {
  const s = scenario('isodate', { type: 'json', timestampField: 'ts' },
    (p, _i, id, ms) => ({ partition: p, value: json({ id, ts: `${new Date(ms).toISOString().slice(0, 10)}Z` }) }), [{ partition: 0, value: json({ id: 'x', ts: '2024-03-10T' }) }])
  for (const [id, dir] of s.expected) s.expected.set(id, `${dir.slice(0, dir.indexOf('/'))}/hr=00`)
  return s
}

const PROTO = `syntax = "proto3";
package e2e;
enum Kind { KIND_UNSPECIFIED = 0; CLICK = 1; VIEW = 2; }
message Event { string id = 1; int64 ts = 2; Kind kind = 3; bytes blob = 4; }
`
const AVRO_SCHEMA = { type: 'record', name: 'Event', namespace: 'e2e', fields: [{ name: 'id', type: 'string' }, { name: 'ts', type: 'long' }, { name: 'note', type: ['null', 'string'], default: null }] }
const AVRO_V2 = { type: 'record', name: 'Event', namespace: 'e2e', fields: [{ name: 'id', type: 'string' }, { name: 'ts', type: 'string' }] }
const CUSTOM_MODULE = `
export default {
  parse (message) {
    const [id, ts, level] = message.value.toString().split(';')
    if (level === 'TRACE') return null
    if (level === 'BOOM') throw new Error('boom')
    return { timestamp: Number(ts), value: { id, level, topic: message.topic } }
  }
}
`

/**
 * NDJSON: three records per message, each routed by its own time; every third line has no timestamp and falls
 * back to the message's Kafka timestamp (set to that record's time).
 */
function linesScenario (): Scenario {
  const s = scenario('lines', { type: 'json', timestampField: 'ts', split: 'lines', fallback: { policy: 'kafka-timestamp' } },
    (p, i, id, ms) => ({ partition: p, value: Buffer.from(JSON.stringify(i % 3 === 2 ? { id } : { id, ts: ms })), timestamp: ms }),
    [{ partition: 0, value: Buffer.from('\n \n') }])
  const grouped: Produced[] = []
  const good = s.messages.slice(0, PARTITIONS * PER_PARTITION)
  for (let k = 0; k < good.length; k += 3) {
    const three = good.slice(k, k + 3)
    grouped.push({ partition: three[0]?.partition ?? 0, value: Buffer.from(`${three.map(m => m.value?.toString() ?? '').join('\r\n')}\n`), timestamp: three[2]?.timestamp ?? BASE })
  }
  return { ...s, messages: [...grouped, ...s.messages.slice(good.length)] }
}

function berlinLocal (ms: number): string {
  return new Date(ms + HOUR).toISOString().slice(0, 19).replace('T', ' ')
}

function wire (id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeInt32BE(id, 1)
  return Buffer.concat([head, payload])
}

async function startRegistry (t: { after: (fn: () => Promise<void>) => void }, schemas: Record<number, unknown>): Promise<string> {
  const server = createServer((req, res) => {
    const id = Number(/^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '')?.[1])
    const schema = schemas[id]
    if (schema === undefined) { res.writeHead(404).end('{"error_code":40403}'); return }
    res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ schema: JSON.stringify(schema) }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function produceAll (stack: Stack, topic: string, messages: Produced[]): Promise<void> {
  const producer = new Kafka({ clientId: 'parsers-e2e', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING }).producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const kafkaMessages: Message[] = messages.map(m => ({
      partition: m.partition,
      value: m.value,
      ...(m.timestamp !== undefined ? { timestamp: String(m.timestamp) } : {}),
      ...(m.headers !== undefined ? { headers: m.headers } : {})
    }))
    await producer.send({ topic, acks: -1, messages: kafkaMessages })
  } finally {
    await producer.disconnect()
  }
}

interface Landed {
  /** id → directories (below the topic) it was found in, once per occurrence. */
  good: Map<string, string[]>
  errors: number
  objects: number
}

async function readLanded (stack: Stack, prefix: string, topic: string, idOf: (line: string) => string): Promise<Landed> {
  const landed: Landed = { good: new Map(), errors: 0, objects: 0 }
  for (const { key, body: raw } of await dataObjects(stack, prefix)) {
    landed.objects++
    const lines = (key.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8').split('\n').filter(l => l !== '')
    if (key.startsWith(`${prefix}/_errors/`)) { landed.errors += lines.length; continue }
    const dir = key.slice(`${prefix}/${topic}/`.length, key.lastIndexOf('/'))
    for (const line of lines) {
      const id = idOf(line)
      landed.good.set(id, [...(landed.good.get(id) ?? []), dir])
    }
  }
  return landed
}

test('every parser end to end: records land once, in their hour, readable', { timeout: 180_000 }, async (t) => {
  const started = Date.now()
  const stack = await startStack(t)
  await mkdir(join(stack.dir, 'schemas'))
  await mkdir(join(stack.dir, 'parsers'))
  await writeFile(join(stack.dir, 'schemas', 'event.proto'), PROTO)
  await writeFile(join(stack.dir, 'schemas', 'event.avsc'), JSON.stringify(AVRO_SCHEMA))
  await writeFile(join(stack.dir, 'parsers', 'semicolon.mjs'), CUSTOM_MODULE)
  const registryUrl = await startRegistry(t, { 21: AVRO_SCHEMA, 22: AVRO_V2 })
  const Event = (await new protobuf.Root().load(join(stack.dir, 'schemas', 'event.proto'), { keepCase: true })).lookupType('e2e.Event')
  const avroType = avro.Type.forSchema(AVRO_SCHEMA as avro.Schema)
  const avroV2 = avro.Type.forSchema(AVRO_V2 as avro.Schema)
  const kinds = ['click', 'view', 'buy']

  // Split by field, if the partition template knows parser fields (src/stages/path-template.ts).
  let byField = true
  try {
    validateConfig(serviceConfig(stack, 't', 'g', { parser: { fields: { eventType: 'kind' } }, partition: { template: 'type={eventType}/dt={YYYY}-{MM}-{DD}/hr={HH}' } }))
  } catch {
    byField = false
    t.diagnostic('partition template without {field} tokens: the json scenario uses the default template')
  }
  const jsonKind = (offset: number): string => kinds[offset % 3] as string
  if (byField) t.diagnostic('json scenario: split by field, template type={eventType}/dt={YYYY}-{MM}-{DD}/hr={HH}')

  const scenarios: Scenario[] = [
    scenario('json', { type: 'json', timestampField: 'ts', fields: { eventType: 'kind' } },
      (p, i, id, ms) => ({ partition: p, value: json({ id, kind: jsonKind(i), ts: i % 3 === 0 ? ms : i % 3 === 1 ? new Date(ms).toISOString() : ms / 1000 }) }),
      [{ partition: 0, value: Buffer.from('{"id": "x", "ts": ') }, { partition: 0, value: json({ id: 'no-ts' }) }],
      byField ? { partition: { template: 'type={eventType}/dt={YYYY}-{MM}-{DD}/hr={HH}' } } : {}),
    linesScenario(),
    scenario('kafka', { type: 'kafka-timestamp' }, (p, _i, id, ms) => ({ partition: p, value: json({ id }), timestamp: ms }), [{ partition: 0, value: Buffer.from('a\nb') }]),
    scenario('header', { type: 'header', header: { name: 'event-time' } },
      (p, i, id, ms) => ({ partition: p, value: json({ id }), headers: { 'event-time': i % 2 === 0 ? String(ms) : new Date(ms).toISOString() } }),
      [{ partition: 0, value: json({ id: 'x' }) }]),
    scenario('regex', {
      type: 'regex', regex: { pattern: '^(?<time>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) (?<level>[A-Z]+) id=(?<id>\\S+) (?<text>.*)$' },
      timestampField: 'time', timestampFormat: 'yyyy-MM-dd HH:mm:ss', timezone: 'Europe/Berlin'
    }, (p, _i, id, ms) => ({ partition: p, value: Buffer.from(`${berlinLocal(ms)} INFO id=${id} request served`) }),
    [{ partition: 0, value: Buffer.from('not a log line') }],
    // Times in the pattern have whole seconds: the expected hour is that of the truncated time (same here).
    { idOf: line => /id=(\S+)/.exec(line)?.[1] ?? `unreadable: ${line}` }),
    scenario('msgpack', { type: 'msgpack', timestampField: 'ts' },
      (p, _i, id, ms) => ({ partition: p, value: Buffer.from(msgpackEncode({ id, ts: ms, big: 2n ** 60n }, { useBigInt64: true })) }), [{ partition: 0, value: Buffer.from([0xc1]) }]),
    scenario('protobuf', { type: 'protobuf', protobuf: { file: './schemas/event.proto', messageType: 'e2e.Event' }, timestampField: 'ts' },
      (p, _i, id, ms) => ({ partition: p, value: Buffer.from(Event.encode(Event.fromObject({ id, ts: ms, kind: 'VIEW', blob: Buffer.from('hi') })).finish()) }),
      [{ partition: 0, value: Buffer.from([0x12, 0xff]) }]),
    scenario('avro', { type: 'avro', avro: { schemaFile: './schemas/event.avsc' }, timestampField: 'ts' },
      (p, i, id, ms) => ({ partition: p, value: avroType.toBuffer({ id, ts: ms, note: i % 2 === 0 ? null : 'n' }) }), [{ partition: 0, value: Buffer.from([0x02]) }]),
    scenario('registry', { type: 'avro', avro: { registryUrl }, timestampField: 'ts' },
      (p, i, id, ms) => ({ partition: p, value: i % 2 === 0 ? wire(21, avroType.toBuffer({ id, ts: ms, note: null })) : wire(22, avroV2.toBuffer({ id, ts: new Date(ms).toISOString() })) }),
      [{ partition: 0, value: Buffer.from('{"not": "wire"}') }, { partition: 0, value: wire(99, Buffer.from([0])) }]),
    // Secor parity (issue 15): a Thrift compact struct {1: id, 2: {1: i64 ms}}, timestamp by nested field id
    scenario('thrift', { type: 'thrift', thrift: { protocol: 'compact' }, timestampField: '2.1' },
      (p, _i, id, ms) => ({ partition: p, value: thriftCompact(id, ms) }), [{ partition: 0, value: Buffer.from([0x18, 0x05, 0x61]) }],
      { idOf: line => String((JSON.parse(line) as Record<string, unknown>)['1']) }),
    // SimpleDateFormat-style prefix matching: the pattern stops at the seconds, the value goes on
    scenario('prefix', { type: 'json', timestampField: 'ts', timestampFormat: "yyyy-MM-dd'T'HH:mm:ss", timestampMatch: 'prefix' },
      (p, _i, id, ms) => ({ partition: p, value: json({ id, ts: new Date(ms).toISOString() }) }), [{ partition: 0, value: json({ id: 'x', ts: '2024-03-10 05:00:00' }) }]),
    // ISO dates without a time (xs:date with a zone): midnight UTC
    isoDateScenario(),
    scenario('custom', { type: 'custom', module: './parsers/semicolon.mjs' },
      (p, _i, id, ms) => ({ partition: p, value: Buffer.from(`${id};${ms};INFO`) }),
      [{ partition: 0, value: Buffer.from('x;0;BOOM') }])
  ]
  // Messages a custom parser filters out: consumed and committed, written nowhere.
  const custom = scenarios.find(s => s.name === 'custom') as Scenario
  for (let k = 0; k < 10; k++) custom.messages.push({ partition: 1, value: Buffer.from(`trace-${k};${BASE};TRACE`) })

  await Promise.all(scenarios.map(async s => {
    await stack.kafka.createTopic(`t-${s.name}`, PARTITIONS)
    await produceAll(stack, `t-${s.name}`, s.messages)
  }))
  t.diagnostic(`stack up and ${scenarios.reduce((n, s) => n + s.messages.length, 0)} messages produced in ${Date.now() - started} ms`)

  // One controller per service: ten services on one signal would trip Node's listener-leak warning.
  const controllers = scenarios.map(() => new AbortController())
  const logger = createLogger({ level: 'warn' })
  const services = await Promise.all(scenarios.map(async (s, k) => {
    const raw = serviceConfig(stack, `t-${s.name}`, `g-${s.name}`, {
      parser: s.parser,
      ...(s.partition !== undefined ? { partition: s.partition } : {}),
      upload: { maxFileAgeSeconds: 2 },
      sink: { prefix: `p-${s.name}` },
      log: { level: 'warn' }
    })
    raw.metrics = { enabled: false }
    // Through a config file, so relative parser paths resolve against its directory (stack.dir).
    const config = await loadConfig(await writeConfig(stack, s.name, raw), {})
    // Wrapped: returning the promise itself would make this map wait for the service to stop.
    return { done: runService(config, { logger, signal: (controllers[k] as AbortController).signal }) }
  }))
  const run = Promise.all(services.map(async s => await s.done))
  try {
    await waitFor('every scenario committed', 120_000, async () => {
      for (const s of scenarios) if (!await allCommitted(stack, `g-${s.name}`, `t-${s.name}`)) return false
      return true
    }, 500)
  } finally {
    for (const c of controllers) c.abort()
  }
  const stats = await run
  t.diagnostic(`all committed and stopped after ${Date.now() - started} ms`)

  for (const [k, s] of scenarios.entries()) {
    const idOf = s.idOf ?? ((line: string) => String((JSON.parse(line) as { id?: unknown }).id))
    const landed = await readLanded(stack, `p-${s.name}`, `t-${s.name}`, idOf)
    const problems: string[] = []
    for (const [id, dir] of s.expected) {
      const want = s.name === 'json' && byField ? `type=${jsonKind(Number(id.split('-')[2]))}/${dir}` : dir
      const dirs = landed.good.get(id) ?? []
      if (dirs.length !== 1) problems.push(`${id} found ${dirs.length} times`)
      else if (dirs[0] !== want) problems.push(`${id} in ${dirs[0] ?? ''}, expected ${want}`)
    }
    for (const id of landed.good.keys()) if (!s.expected.has(id)) problems.push(`unexpected ${id}`)
    t.diagnostic(`${s.name}: ${landed.good.size} records in ${landed.objects} objects, ${landed.errors} error records`)
    assert.deepEqual(problems.slice(0, 10), [], s.name)
    assert.equal(landed.good.size, PARTITIONS * PER_PARTITION, s.name)
    assert.equal(landed.errors, s.badCount, `${s.name}: bad messages in _errors/ once each`)
    assert.equal(stats[k]?.recordsCommitted, PARTITIONS * PER_PARTITION + s.badCount, `${s.name}: records committed`)
  }

  // Binary records are readable JSON with the documented rendering.
  const sample = await readLanded(stack, 'p-protobuf', 't-protobuf', line => line)
  const line = [...sample.good.keys()][0] ?? ''
  assert.deepEqual(Object.keys(JSON.parse(line) as object).sort(), ['blob', 'id', 'kind', 'ts'])
  assert.equal((JSON.parse(line) as { kind: string, blob: string }).kind, 'VIEW')
  assert.equal((JSON.parse(line) as { blob: string }).blob, Buffer.from('hi').toString('base64'))
  const big = await readLanded(stack, 'p-msgpack', 't-msgpack', l => String((JSON.parse(l) as { big: unknown }).big))
  assert.deepEqual([...big.good.keys()], ['1152921504606846976'], 'an unsafe int64 as a string')
  t.diagnostic(`total ${Date.now() - started} ms`)
})
