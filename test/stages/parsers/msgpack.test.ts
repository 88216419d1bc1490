import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from '@msgpack/msgpack'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

test('msgpack: decoded map → doc and one JSON line; int64 safe as number, else string; bin as base64; Date as ISO', async () => {
  const doc = {
    ts: TS,
    meta: { type: 'click' },
    big: 2n ** 62n,
    small64: 5n,
    neg: -(2n ** 63n),
    bin: new Uint8Array([1, 2, 3]),
    when: new Date(TS),
    list: [1, 'two', null],
    text: 'line\nbreak',
    float: 1.5
  }
  const bytes = Buffer.from(encode(doc, { useBigInt64: true }))
  const batch = await parseAll({ type: 'msgpack', timestampField: 'ts', fields: { eventType: 'meta.type' } }, [msg(1, bytes)])
  assert.deepEqual(times(batch), [[1, TS]])
  const good = batch.good[0]!
  const expected = {
    ts: TS,
    meta: { type: 'click' },
    big: '4611686018427387904',
    small64: 5,
    neg: '-9223372036854775808',
    bin: 'AQID',
    when: new Date(TS).toISOString(),
    list: [1, 'two', null],
    text: 'line\nbreak',
    float: 1.5
  }
  assert.deepEqual(good.doc, expected)
  assert.deepEqual(JSON.parse(good.value.toString()), expected)
  assert.equal(good.value.indexOf(10), -1, 'one line')
  assert.equal(good.raw, bytes, 'raw: the original MessagePack bytes')
  assert.deepEqual(good.fields, { eventType: 'click' })
})

test('msgpack: timestamps as ISO strings, seconds, Date ext; bad inputs are error records', async () => {
  const ok = [
    encode({ ts: '2026-11-20T07:15:00Z' }),
    encode({ ts: TS / 1000 }),
    encode({ ts: new Date(TS) })
  ]
  const bad: Array<[Uint8Array | Buffer | null, RegExp]> = [
    [Buffer.from('{"ts": 1}'), /^not MessagePack: /],
    [encode([1, 2]), /^MessagePack top level is an array, expected a map$/],
    [encode('text'), /^MessagePack top level is a string, expected a map$/],
    [Buffer.concat([encode({ ts: TS }), Buffer.from([0x01])]), /^not MessagePack: Extra 1 of 14 byte/],
    [encode({ ts: TS }).subarray(0, 3), /^not MessagePack: /],
    [encode({ other: 1 }), /^missing timestamp field "ts"$/],
    [encode({ ts: true }), /^boolean timestamp \(true\)$/],
    [Buffer.alloc(0), /^empty value$/],
    [null, /^tombstone \(null value\)$/]
  ]
  const records = [...ok.map((b, i) => msg(i, Buffer.from(b))), ...bad.map(([b], i) => msg(10 + i, b === null ? null : Buffer.from(b)))]
  const batch = await parseAll({ type: 'msgpack', timestampField: 'ts' }, records)
  assert.deepEqual(times(batch), [[0, TS], [1, TS], [2, TS]])
  assert.equal(batch.bad.length, bad.length)
  for (const [i, [, reason]] of bad.entries()) {
    assert.match(batch.bad[i]?.reason ?? '', reason)
    assert.equal(batch.bad[i]?.offset, 10 + i)
    assert.equal(batch.bad[i]?.value, records[ok.length + i]?.value, 'the original bytes go to the error output')
  }
  assert.deepEqual(reasons(await parseAll({ type: 'msgpack' }, [msg(1, Buffer.from(encode({ timestamp: 'soon' })))])), [[1, 'non-numeric timestamp "soon"']])
})
