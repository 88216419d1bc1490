/**
 * The thrift parser, with Secor's ThriftMessageParserTest vectors: UnitTestMessage(timestamp i64 #1, requiredField
 * string #2, timestampTwo i32 #3, timestampThree i64 #6), serialized by hand per the Thrift binary and compact
 * protocol specifications, plus a nested struct #7 {1: i64 ms, 2: list<i32>, 3: map<string,bool>}, bool #8,
 * double #9 and (compact) a long field-id jump to #100.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../../src/config/options.js'
import { decodeThriftStruct } from '../../../src/stages/parsers/thrift-codec.js'
import { msg, parseAll, reasons, times } from './helpers.js'

const BINARY = Buffer.from('0a00010000000053cd67b00b00020000000c6e6f74696d706f7274616e74080003000000010a000600000000000000020c00070a0001000001475a5d07fb0f0002080000000200000001000000020d00030b020000000100000001610100020008010400093ff800000000000000', 'hex')
const COMPACT = Buffer.from('16e09eebbc0a180c6e6f74696d706f7274616e74150236041c16f69fe8a5eb51192502041b0181016101001117000000000000f83f05c8010d00', 'hex')

const expected = {
  1: 1405970352n, 2: 'notimportant', 3: 1, 6: 2n,
  7: { 1: 1405970352123n, 2: [1, 2], 3: { a: true } },
  8: true, 9: 1.5
}

test('binary and compact structs decode to values keyed by field id', () => {
  assert.deepEqual(decodeThriftStruct(BINARY, 'binary'), expected)
  assert.deepEqual(decodeThriftStruct(COMPACT, 'compact'), { ...expected, 100: -7 })
  assert.throws(() => decodeThriftStruct(BINARY.subarray(0, 20), 'binary'), /truncated/)
  assert.throws(() => decodeThriftStruct(Buffer.concat([COMPACT, Buffer.from([0])]), 'compact'), /1 bytes after the struct/)
  assert.throws(() => decodeThriftStruct(Buffer.from('0f0001080fffffff', 'hex'), 'binary'), /exceeds the message/)
})

for (const [protocol, bytes] of [['binary', BINARY], ['compact', COMPACT]] as const) {
  test(`thrift ${protocol}: Secor's timestamp ids (i64 seconds, i32 seconds, i64 ms) and a nested field`, async () => {
    const parse = async (field: string): Promise<Array<[number, number]>> => times(await parseAll({ type: 'thrift', thrift: { protocol }, timestampField: field }, [msg(0, bytes)]))
    assert.deepEqual(await parse('1'), [[0, 1405970352000]])
    assert.deepEqual(await parse('3'), [[0, 1000]]) // timestampTwo = 1 (s)
    assert.deepEqual(await parse('7.1'), [[0, 1405970352123]])
    const batch = await parseAll({ type: 'thrift', thrift: { protocol }, timestampField: '7.1' }, [msg(0, bytes), msg(1, Buffer.from('ff', 'hex')), msg(2, bytes.subarray(0, 5))])
    assert.equal(batch.good[0]?.value.toString(), JSON.stringify({ 1: 1405970352, 2: 'notimportant', 3: 1, 6: 2, 7: { 1: 1405970352123, 2: [1, 2], 3: { a: true } }, 8: true, 9: 1.5, ...(protocol === 'compact' ? { 100: -7 } : {}) }))
    assert.deepEqual(batch.good[0]?.raw, bytes)
    assert.deepEqual(reasons(batch).map(([o, r]) => [o, r.startsWith(`not a Thrift ${protocol} struct`)]), [[1, true], [2, true]])
    const missing = await parseAll({ type: 'thrift', thrift: { protocol }, timestampField: '5' }, [msg(0, bytes)])
    assert.match(reasons(missing)[0]?.[1] ?? '', /missing timestamp field "5"/)
  })
}

test('thrift configuration', () => {
  const base = { kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] }, sink: { type: 'file', directory: '/tmp/x' } }
  const ok = validateConfig({ ...base, parser: { type: 'thrift', timestampField: '1', thrift: { protocol: 'compact' } } })
  assert.deepEqual(ok.parser.thrift, { protocol: 'compact' })
  assert.throws(() => validateConfig({ ...base, parser: { type: 'thrift', timestampField: 'ts' } }), /named by id/)
  assert.throws(() => validateConfig({ ...base, parser: { type: 'thrift', timestampField: '1', thrift: { protocol: 'json' } } }), /parser\.thrift\.protocol/)
  assert.throws(() => validateConfig({ ...base, parser: { type: 'json', timestampField: 'ts', thrift: { protocol: 'binary' } } }), /only applies to parser.type "thrift"/)
})
