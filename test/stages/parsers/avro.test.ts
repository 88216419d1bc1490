import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import avro from 'avsc'
import { parseStage } from '../../../src/stages/parse.js'
import { ConfigError } from '../../../src/errors.js'
import type { KafkaRecord, ParsedBatch } from '../../../src/types.js'
import { only, recordBatch, run } from '../helpers.js'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

const SCHEMA = {
  type: 'record',
  name: 'Event',
  namespace: 'shop',
  fields: [
    { name: 'ts', type: 'long' },
    { name: 'user', type: ['null', 'string'], default: null },
    { name: 'amount', type: ['null', 'long', 'double'], default: null },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['CLICK', 'VIEW'] } },
    { name: 'payload', type: 'bytes' },
    { name: 'id', type: { type: 'fixed', name: 'Id', size: 2 } },
    { name: 'meta', type: { type: 'record', name: 'Meta', fields: [{ name: 'type', type: 'string' }] } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'counts', type: { type: 'map', values: 'long' } }
  ]
}

/** avsc with bigint longs, for writing test data (the parser's own type reads it back). */
const LONG = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1)
})
const writer = avro.Type.forSchema(SCHEMA as avro.Schema, { wrapUnions: true, registry: { long: LONG } })

function event (ts: number, extra: Record<string, unknown> = {}): Buffer {
  return writer.toBuffer({
    ts: BigInt(ts), user: { string: 'ann' }, amount: { long: 2n ** 60n }, kind: 'VIEW', payload: Buffer.from([1, 2, 3]), id: Buffer.from('ab'),
    meta: { type: 'click' }, tags: ['a'], counts: { x: 1n }, ...extra
  })
}

const DOC = {
  ts: TS, user: 'ann', amount: '1152921504606846976', kind: 'VIEW', payload: 'AQID', id: 'YWI=', meta: { type: 'click' }, tags: ['a'], counts: { x: 1 }
}

async function schemaDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-avro-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(join(dir, 'event.avsc'), JSON.stringify(SCHEMA))
  return dir
}

test('avro schema file: unions unwrapped, longs safe/unsafe, enums as names, bytes/fixed base64', async t => {
  const dir = await schemaDir(t)
  const bytes = event(TS)
  const batch = await parseAll({ type: 'avro', avro: { schemaFile: 'event.avsc' }, baseDir: dir, timestampField: 'ts', fields: { eventType: 'meta.type' } }, [
    msg(1, bytes),
    msg(2, event(TS, { user: null, amount: { double: 1.5 } })),
    msg(3, Buffer.concat([bytes, Buffer.from([0])])),
    msg(4, bytes.subarray(0, 5)),
    msg(5, null)
  ])
  assert.deepEqual(times(batch), [[1, TS], [2, TS]])
  assert.deepEqual(batch.good[0]?.doc, DOC)
  assert.deepEqual(JSON.parse(batch.good[0]?.value.toString() ?? ''), DOC)
  assert.equal(batch.good[0]?.raw, batch.good[0]?.kafka?.value)
  assert.deepEqual(batch.good[0]?.fields, { eventType: 'click' })
  assert.deepEqual(batch.good[1]?.doc, { ...DOC, user: null, amount: 1.5 })
  assert.deepEqual(reasons(batch), [
    [3, 'not Avro of the schema in parser.avro.schemaFile: trailing data'],
    [4, 'not Avro of the schema in parser.avro.schemaFile: truncated buffer'],
    [5, 'tombstone (null value)']
  ])
})

test('avro: options and schema problems are ConfigErrors', async t => {
  const dir = await schemaDir(t)
  await writeFile(join(dir, 'bad.avsc'), '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')
  await assert.rejects(parseStage({ type: 'avro', avro: { schemaFile: join(dir, 'bad.avsc') } }).init(), (err: unknown) => err instanceof ConfigError && err.path === 'parser.avro.schemaFile')
  await assert.rejects(parseStage({ type: 'avro', avro: { schemaFile: join(dir, 'none.avsc') } }).init(), (err: unknown) => err instanceof ConfigError && err.path === 'parser.avro.schemaFile')
  for (const avroOptions of [{}, { schemaFile: 'a', registryUrl: 'http://x' }]) {
    assert.throws(() => parseStage({ type: 'avro', avro: avroOptions }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.avro')
  }
  assert.throws(() => parseStage({ type: 'avro', avro: { registryUrl: 'ftp://x' } }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.avro.registryUrl')
  assert.throws(() => parseStage({ type: 'json', timestampField: 'ts', avro: { schemaFile: 'x' } }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.avro')
})

// ---------------------------------------------------------------------------------------------------------------
// Confluent wire format + schema registry
// ---------------------------------------------------------------------------------------------------------------

interface Registry {
  url: string
  requests: Map<number, number>
  headers: IncomingHttpHeaders[]
  /** Requests answered 503 before the registry "recovers". */
  failNext: number
  /** While true every request fails (connection-level: the socket is destroyed). */
  down: boolean
}

async function startRegistry (t: { after: (fn: () => Promise<void>) => void }, schemas: Record<number, { schema: unknown, schemaType?: string }>): Promise<Registry> {
  const state: Registry = { url: '', requests: new Map(), headers: [], failNext: 0, down: false }
  const server = createServer((req, res) => {
    const id = Number(/^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '')?.[1])
    state.requests.set(id, (state.requests.get(id) ?? 0) + 1)
    state.headers.push(req.headers)
    if (state.down) { req.socket.destroy(); return }
    if (state.failNext > 0) { state.failNext--; res.writeHead(503).end('{"error_code":50003}'); return }
    const entry = schemas[id]
    if (entry === undefined) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"error_code":40403,"message":"Schema not found"}'); return }
    res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
    res.end(JSON.stringify({ schema: JSON.stringify(entry.schema), ...(entry.schemaType !== undefined ? { schemaType: entry.schemaType } : {}) }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return state
}

function wire (id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeInt32BE(id, 1)
  return Buffer.concat([head, payload])
}

const OTHER = { type: 'record', name: 'Other', fields: [{ name: 'timestamp', type: 'string' }, { name: 'n', type: 'int' }] }
const otherType = avro.Type.forSchema(OTHER as avro.Schema)

test('avro registry: each id fetched once and cached; bad headers, unknown ids and non-Avro schemas are error records', async t => {
  const registry = await startRegistry(t, { 7: { schema: SCHEMA }, 8: { schema: OTHER }, 9: { schema: { type: 'string' }, schemaType: 'JSON' } })
  const stage = parseStage({ type: 'avro', avro: { registryUrl: `${registry.url}/` }, timestampField: 'ts', timestampBounds: { maxFutureSeconds: 0 } })
  const first: KafkaRecord[] = [
    msg(1, wire(7, event(TS))),
    msg(2, wire(7, event(TS + 1000))),
    msg(3, Buffer.from([0, 0, 0])),
    msg(4, Buffer.from('{"ts": 1}')),
    msg(5, wire(404, event(TS))),
    msg(6, wire(9, Buffer.from('x'))),
    msg(7, wire(7, Buffer.from([1, 2])))
  ]
  const second: KafkaRecord[] = [msg(8, wire(7, event(TS))), msg(9, wire(404, event(TS))), msg(10, wire(8, otherType.toBuffer({ timestamp: '2026-11-20T07:15:00Z', n: 3 })))]
  const out = only(await run([recordBatch(first), recordBatch(second)], stage), 'parsed')
  const [a, b] = out as [ParsedBatch, ParsedBatch]
  assert.deepEqual(times(a), [[1, TS], [2, TS + 1000]])
  assert.deepEqual(a.good[0]?.doc, DOC)
  assert.deepEqual(reasons(a), [
    [3, 'not Confluent wire format: 3 bytes, shorter than the 5-byte header (magic byte 0, schema id)'],
    [4, 'not Confluent wire format: magic byte 0x7b, expected 0x00'],
    [5, 'schema id 404 not found in the schema registry'],
    [6, 'schema id 9 is JSON, expected AVRO'],
    [7, 'not Avro of schema id 7: truncated buffer']
  ])
  // Schema 8 has no "ts": the second batch's record of it is an error, the others decode.
  assert.deepEqual(times(b), [[8, TS]])
  assert.deepEqual(reasons(b), [[9, 'schema id 404 not found in the schema registry'], [10, 'missing timestamp field "ts"']])
  assert.deepEqual([...registry.requests].sort((x, y) => x[0] - y[0]), [[7, 1], [8, 1], [9, 1], [404, 1]], 'each id requested once, a 404 included')
})

test('avro registry: an unavailable registry is retried with backoff while the batch waits — no error records', async t => {
  const registry = await startRegistry(t, { 7: { schema: SCHEMA } })
  registry.failNext = 2
  const started = Date.now()
  const batch = await parseAll({ type: 'avro', avro: { registryUrl: registry.url.replace('http://', 'http://reader:s%40cret@') }, timestampField: 'ts' }, [msg(1, wire(7, event(TS)))])
  assert.deepEqual(times(batch), [[1, TS]])
  assert.deepEqual(reasons(batch), [])
  assert.equal(registry.requests.get(7), 3, 'two 503s, then the schema')
  assert.ok(Date.now() - started >= 700, 'waited 0.25 s + 0.5 s between attempts')
  assert.equal(registry.headers[0]?.authorization, `Basic ${Buffer.from('reader:s@cret').toString('base64')}`, 'credentials in the URL become Basic auth')
})

test('avro registry: shutdown (signal) ends the retries and fails the batch instead of hanging', async t => {
  const registry = await startRegistry(t, { 7: { schema: SCHEMA } })
  registry.down = true
  const controller = new AbortController()
  const stage = parseStage({ type: 'avro', avro: { registryUrl: registry.url }, signal: controller.signal })
  setTimeout(() => { controller.abort() }, 600).unref()
  await assert.rejects(run([recordBatch([msg(1, wire(7, event(TS)))])], stage))
  assert.ok((registry.requests.get(7) ?? 0) >= 2, 'it was retrying')
})
