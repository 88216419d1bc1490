import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import protobuf from 'protobufjs'
import { parseStage } from '../../../src/stages/parse.js'
import { ConfigError } from '../../../src/errors.js'
import { only, recordBatch, run } from '../helpers.js'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

const PROTO = `syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
enum Kind { KIND_UNSPECIFIED = 0; CLICK = 1; VIEW = 2; }
message Meta { string type = 1; }
message Event {
  int64 ts = 1;
  string user_id = 2;
  Kind kind = 3;
  bytes payload = 4;
  uint64 big = 5;
  google.protobuf.Timestamp at = 6;
  Meta meta = 7;
  repeated int32 nums = 8;
  double score = 9;
  int32 zero = 10;
}
`

async function fixture (t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string, Event: protobuf.Type }> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-proto-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(join(dir, 'event.proto'), PROTO)
  const root = await new protobuf.Root().load(join(dir, 'event.proto'), { keepCase: true })
  return { dir, Event: root.lookupType('shop.v1.Event') }
}

function encode (type: protobuf.Type, value: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(value)).finish())
}

test('protobuf: descriptor from a .proto file; enums as names, int64 safe/unsafe, bytes base64, defaults left out', async t => {
  const { dir, Event } = await fixture(t)
  const bytes = encode(Event, {
    ts: TS, user_id: 'u1', kind: 'VIEW', payload: Buffer.from([1, 2, 3]), big: '18446744073709551615',
    at: { seconds: TS / 1000, nanos: 5_000_000 }, meta: { type: 'click' }, nums: [1, 2], score: 0.5, zero: 0
  })
  // Relative to baseDir (loadConfig passes the config file's directory).
  const batch = await parseAll({ type: 'protobuf', protobuf: { file: 'event.proto', messageType: 'shop.v1.Event' }, timestampField: 'ts', baseDir: dir, fields: { eventType: 'meta.type', kind: 'kind' } }, [msg(1, bytes)])
  assert.deepEqual(reasons(batch), [])
  const good = batch.good[0]!
  const expected = {
    ts: TS, user_id: 'u1', kind: 'VIEW', payload: 'AQID', big: '18446744073709551615',
    at: { seconds: TS / 1000, nanos: 5_000_000 }, meta: { type: 'click' }, nums: [1, 2], score: 0.5
  }
  assert.deepEqual(good.doc, expected)
  assert.deepEqual(JSON.parse(good.value.toString()), expected)
  assert.equal(good.raw, batch.good[0]?.kafka?.value)
  assert.deepEqual(good.fields, { eventType: 'click', kind: 'VIEW' })
  assert.equal(good.timestampMs, TS)

  // A google.protobuf.Timestamp field as the event time.
  const at = await parseAll({ type: 'protobuf', protobuf: { file: join(dir, 'event.proto'), messageType: 'shop.v1.Event' }, timestampField: 'at' }, [msg(1, bytes)])
  assert.deepEqual(times(at), [[1, TS + 5]])
})

test('protobuf: undecodable and timestamp-less messages are error records', async t => {
  const { dir, Event } = await fixture(t)
  const records = [
    msg(1, encode(Event, { ts: TS })),
    msg(2, Buffer.from([0x0a, 0xff, 0xff])), // field 1 as length-delimited, truncated
    msg(3, Buffer.alloc(0)), // valid: every field default, so no timestamp
    msg(4, encode(Event, { user_id: 'x' })),
    msg(5, null),
    msg(6, Buffer.from([0x08]))
  ]
  const batch = await parseAll({ type: 'protobuf', protobuf: { file: join(dir, 'event.proto'), messageType: 'shop.v1.Event' }, timestampField: 'ts' }, records)
  assert.deepEqual(times(batch), [[1, TS]])
  assert.deepEqual(batch.bad.map(b => b.offset), [2, 3, 4, 5, 6])
  assert.match(batch.bad[0]?.reason ?? '', /^not a valid shop\.v1\.Event protobuf message: /)
  assert.equal(batch.bad[1]?.reason, 'missing timestamp field "ts"')
  assert.equal(batch.bad[2]?.reason, 'missing timestamp field "ts"')
  assert.equal(batch.bad[3]?.reason, 'tombstone (null value)')
  assert.match(batch.bad[4]?.reason ?? '', /^not a valid shop\.v1\.Event protobuf message: /)
  assert.equal(batch.bad[0]?.value, records[1]?.value)

  const fallback = await parseAll({ type: 'protobuf', protobuf: { file: join(dir, 'event.proto'), messageType: 'shop.v1.Event' }, timestampField: 'ts', fallback: { policy: 'kafka-timestamp' } }, [msg(3, Buffer.alloc(0), { timestamp: TS + 3 })])
  assert.deepEqual(times(fallback), [[3, TS + 3]])
})

test('protobuf: a missing file or message type is a ConfigError from init(), before any batch', async t => {
  const { dir } = await fixture(t)
  const missing = parseStage({ type: 'protobuf', protobuf: { file: join(dir, 'nope.proto'), messageType: 'shop.v1.Event' } })
  await assert.rejects(missing.init(), (err: unknown) => err instanceof ConfigError && err.path === 'parser.protobuf.file')
  const wrongType = parseStage({ type: 'protobuf', protobuf: { file: join(dir, 'event.proto'), messageType: 'shop.v1.Evnt' } })
  await assert.rejects(wrongType.init(), (err: unknown) => err instanceof ConfigError && err.path === 'parser.protobuf.messageType' && /shop\.v1\.Event/.test(err.message))
  // Without init() the first batch fails the stream with the same error.
  await assert.rejects(run([recordBatch([msg(1, 'x')])], parseStage({ type: 'protobuf', protobuf: { file: join(dir, 'nope.proto'), messageType: 'X' } })), ConfigError)
  assert.throws(() => parseStage({ type: 'protobuf', protobuf: { file: '', messageType: 'X' } }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.protobuf.file')
  assert.throws(() => parseStage({ type: 'protobuf' }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.protobuf')
  // Control items are not held back by loading.
  const out = await run([{ kind: 'flush' }], parseStage({ type: 'protobuf', protobuf: { file: join(dir, 'event.proto'), messageType: 'shop.v1.Event' } }))
  assert.deepEqual(only(out, 'flush').length, 1)
})
