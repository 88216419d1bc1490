import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gunzipSync } from 'node:zlib'
import fc from 'fast-check'
import { zstdDecompressFrames as zstdDecompress } from '../helpers/zstd.js'
import { encodeStage, type EncodeOptions } from '../../src/stages/encode.js'
import { parseStage } from '../../src/stages/parse.js'
import { partitionStage } from '../../src/stages/partition.js'
import type { EncodedBatch, KafkaRecord } from '../../src/types.js'
import { only, recordBatch, run } from './helpers.js'

// Random and adversarial messages through parse → partition → encode, for every output format and codec:
// the stages never throw, and every message comes out exactly once, as data or as an error record with a reason
// (issue 10, item 3: one poisonous record must never stop its partition).

const TS = 1_795_158_900_000
const MAX_MESSAGE_BYTES = 1024 * 1024
const RUNS = Number(process.env.FUZZ_RUNS ?? 15)

/** JSON texts of numbers and strings that stress decoders and encoders (as text: 1e400 is no JS number). */
const nastyLeaf = fc.constantFrom(
  '1e400', '-1e400', '1e-400', '-0', '4.9e-324', '1.7976931348623157e308', '9223372036854775807', '9223372036854775808',
  '-9223372036854775809', '18446744073709551616', '123456789012345678901234567890', '2147483648', '0.1', '1E+2',
  'true', 'false', 'null', '""', '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"x\\udfffy"', '"\\udbff\\udfff"', '"\\u2028\\u2029"',
  '"a\\nb\\r\\nc"', '"\\"quoted\\", with,commas;semis\\t"', '"2026-11-20T07:15:00Z"', '"__proto__"', '{"__proto__":{"x":1}}', '[]', '{}'
)
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map(c => JSON.stringify(`s${String.fromCharCode(c)}e`))
const leaf = fc.oneof(
  nastyLeaf,
  loneSurrogate,
  fc.double().map(d => JSON.stringify(d)),
  fc.bigInt().map(String),
  fc.string({ unit: 'binary', maxLength: 20 }).map(s => JSON.stringify(s))
)
const { value: jsonText } = fc.letrec<{ value: string }>(tie => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }).map(items => `[${items.join(',')}]`),
    fc.array(fc.tuple(fc.constantFrom('a', 'b', 'ts', 'n', 'k', '', '__proto__', 'a.b', 'é'), tie('value')), { maxLength: 4 })
      .map(entries => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`)
  )
}))
/** Arrays or objects nested up to 6,000 deep (JSON.stringify overflows the stack at a few thousand). */
const deep = fc.tuple(fc.integer({ min: 1, max: 6000 }), fc.boolean()).map(([depth, arrays]) =>
  arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)
/** Strings from 1 KB to beyond maxMessageBytes, with characters that need quoting or escaping. */
const huge = fc.tuple(fc.constantFrom(1_000, 100_000, MAX_MESSAGE_BYTES + 10), fc.constantFrom('x', '"', ',', '\\n', '\\u0000', 'é'))
  .map(([n, unit]) => '"' + unit.repeat(Math.ceil(n / unit.length)) + '"')
const tsText = fc.oneof(
  fc.constantFrom(String(TS), String(TS / 1000), String(TS * 1000), String(TS * 1_000_000), '1e400', '-1e400', '-5', '0', 'null',
    '"2026-11-20T07:15:00Z"', '"garbage"', '9223372036854775808', '1e14', '1.5e12', '"1795158900000"', '[]', '{}', 'true'),
  fc.double().map(d => JSON.stringify(d)),
  fc.integer({ min: 0, max: 2 ** 53 - 1 }).map(String)
)

/** A message value: a JSON document with a timestamp, or something that is not one at all. */
const messageValue: fc.Arbitrary<Buffer | null> = fc.oneof(
  { arbitrary: fc.tuple(tsText, fc.oneof(jsonText, deep, huge), jsonText).map(([ts, k, n]) => Buffer.from(`{"ts":${ts},"k":${k},"n":${n}}`)), weight: 6 },
  { arbitrary: fc.tuple(fc.oneof(deep, jsonText)).map(([k]) => Buffer.from(`{"k":${k},"ts":${TS}}`)), weight: 2 },
  { arbitrary: jsonText.map(t => Buffer.from(t)), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map(b => Buffer.from(b)), weight: 1 },
  // Invalid UTF-8, raw NUL and raw line breaks inside an otherwise fine document.
  {
    arbitrary: fc.constantFrom([0xff], [0xc3], [0xed, 0xa0, 0x80], [0], [10], [13, 10], [0xf4, 0x90, 0x80, 0x80]).map(bytes =>
      Buffer.concat([Buffer.from(`{"ts":${TS},"s":"a`), Buffer.from(bytes), Buffer.from('b"}')])),
    weight: 1
  },
  { arbitrary: fc.constantFrom(null, Buffer.alloc(0), Buffer.from(' '), Buffer.from(`{"ts":${TS}}\n{"ts":${TS}}`)), weight: 1 }
)
const kafkaTimestamp = fc.oneof(fc.constant(TS), fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.constantFrom(-1, 0, 8.64e15 + 1, Number.MAX_SAFE_INTEGER))
const messages = fc.array(fc.tuple(messageValue, kafkaTimestamp), { minLength: 1, maxLength: 10 })

interface Output {
  format: EncodeOptions['format']
  options: EncodeOptions
}

const OUTPUT_OPTIONS: EncodeOptions[] = [
  { format: 'jsonl', compression: 'gzip' },
  { format: 'jsonl', compression: 'zstd', wrap: true },
  { format: 'jsonl', compression: 'none', wrap: true },
  { format: 'csv', compression: 'gzip', columns: ['ts', 'k', 'k.a', 'n'] },
  { format: 'csv', compression: 'zstd', columns: ['k'], wrap: true },
  { format: 'csv', compression: 'none', columns: ['n', 'k.a.a'], delimiter: ';' },
  { format: 'raw', compression: 'gzip' },
  { format: 'raw', compression: 'zstd', framing: 'length-prefixed' },
  { format: 'raw', compression: 'none' },
  { format: 'parquet', compression: 'snappy' },
  { format: 'parquet', compression: 'gzip', parquetSchema: { ts: 'timestamp', k: 'json', 'k.a': 'int64', n: 'double' } },
  { format: 'parquet', compression: 'zstd', wrap: true },
  { format: 'parquet', compression: 'none', parquetSchema: { k: 'string', n: 'int32', 'k.b': 'float', a: 'boolean' } }
]
const OUTPUTS: Output[] = OUTPUT_OPTIONS.map(options => ({ format: options.format, options }))

const decode = (data: Buffer, extension: string): Buffer =>
  extension.endsWith('.gz') ? gunzipSync(data) : extension.endsWith('.zst') ? zstdDecompress(data) : data

/** Runs the messages through the stages; returns the data record count, error offsets and, where readable, data offsets. */
async function pass (output: Output, msgs: Array<[Buffer | null, number]>): Promise<{ data: number, errors: number[], dataOffsets?: number[] }> {
  const records: KafkaRecord[] = msgs.map(([value, timestamp], offset) => ({ offset, key: null, value, timestamp, headers: {} }))
  const out = only(await run([recordBatch(records, 'fuzz', 0)],
    parseStage({ type: 'json', timestampField: 'ts', maxMessageBytes: MAX_MESSAGE_BYTES, timestampBounds: { maxFutureSeconds: 0 } }),
    partitionStage(),
    encodeStage({ ...output.options, maxInFlight: 1 })), 'encoded') as EncodedBatch[]
  let data = 0
  const errors: number[] = []
  const dataOffsets: number[] = []
  for (const group of out.flatMap(b => b.groups)) {
    if (group.dir.startsWith('_errors/')) {
      const lines = decode(group.data, group.extension).toString().split('\n')
      assert.equal(lines.pop(), '', 'error output ends with a line break')
      for (const line of lines) {
        const e = JSON.parse(line) as { offset: number, reason: unknown }
        assert.equal(typeof e.reason, 'string')
        assert.notEqual(e.reason, '')
        errors.push(e.offset)
      }
      assert.equal(lines.length, group.records)
    } else {
      data += group.records
      if (output.format === 'jsonl' && output.options.wrap === true) {
        for (const line of decode(group.data, group.extension).toString().split('\n')) {
          if (line !== '') dataOffsets.push(Number(/^\{"offset":(\d+),/.exec(line)?.[1]))
        }
      }
    }
  }
  return output.format === 'jsonl' && output.options.wrap === true ? { data, errors, dataOffsets } : { data, errors }
}

for (const output of OUTPUTS) {
  const o = output.options
  const name = `${o.format} ${o.compression}${o.wrap === true ? ' wrap' : ''}${o.parquetSchema !== undefined ? ' schema' : ''}${o.framing !== undefined ? ` ${o.framing}` : ''}`
  test(`fuzz ${name}: every message comes out exactly once, as data or as an error record`, async () => {
    await fc.assert(fc.asyncProperty(messages, async msgs => {
      const { data, errors, dataOffsets } = await pass(output, msgs)
      assert.equal(new Set(errors).size, errors.length, 'no message has two error records')
      for (const offset of errors) assert.ok(offset >= 0 && offset < msgs.length)
      assert.equal(data + errors.length, msgs.length, 'every message once, as data or error')
      if (dataOffsets !== undefined) {
        assert.deepEqual([...dataOffsets, ...errors].sort((a, b) => a - b), msgs.map((_, i) => i))
      }
    }), { numRuns: RUNS })
  })
}
