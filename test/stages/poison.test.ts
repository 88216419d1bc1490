import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gunzipSync } from 'node:zlib'
import { zstdDecompressFrames as zstdDecompress } from '../helpers/zstd.js'
import type { Compression, OutputFormat } from '../../src/config/types.js'
import { encodeStage, type EncodeOptions } from '../../src/stages/encode.js'
import { parseStage } from '../../src/stages/parse.js'
import { partitionStage } from '../../src/stages/partition.js'
import type { EncodedBatch, KafkaRecord, ParsedBatch, ParsedRecord, RoutedBatch } from '../../src/types.js'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FileBuilder } from '../../src/types.js'
import { openDuck, sqlString } from '../helpers/duckdb.js'
import { only, record, recordBatch, run } from './helpers.js'

// One poisonous record must never fail its batch: the service would restart the pipeline from the last commit
// and meet the same record again, forever (issue 10, item 3). It becomes an error record with its reason.

const TS = 1_795_158_900_000
const good = (n: number): string => `{"ts":${TS},"n":${n},"a":{"b":${n}}}`
/** 10 KB of JSON nested 5,000 deep: JSON.parse reads it, JSON.stringify of the nested part overflows the stack. */
const DEEP = `{"ts":${TS},"n":-1,"a":${'['.repeat(5000)}${']'.repeat(5000)}}`

const FORMATS: Array<[OutputFormat, Compression, Partial<EncodeOptions>]> = [
  ['csv', 'gzip', { columns: ['n', 'a'] }],
  ['csv', 'none', { columns: ['n', 'a'], wrap: true }],
  ['parquet', 'snappy', {}],
  ['parquet', 'zstd', { parquetSchema: { n: 'int64', a: 'json' } }],
  ['parquet', 'none', { wrap: true }],
  ['jsonl', 'gzip', { wrap: true }]
]

const decode = (data: Buffer, extension: string): Buffer =>
  extension.endsWith('.gz') ? gunzipSync(data) : extension.endsWith('.zst') ? zstdDecompress(data) : data

function errorLines (batches: EncodedBatch[]): Array<{ offset: number, reason: string, value: string }> {
  return batches.flatMap(b => b.groups.filter(g => g.dir.startsWith('_errors/')))
    .flatMap(g => decode(g.data, g.extension).toString().split('\n').filter(l => l !== ''))
    .map(l => JSON.parse(l) as { offset: number, reason: string, value: string })
}

for (const [format, compression, extra] of FORMATS) {
  test(`${format} ${compression}${extra.wrap === true ? ' wrap' : ''}: a value nested 5,000 deep is an error record, its neighbours data`, async (t) => {
    const records = [record(0, good(0)), record(1, DEEP), record(2, good(2))]
    const out = only(await run([recordBatch(records)],
      parseStage({ type: 'json', timestampField: 'ts' }), partitionStage(), encodeStage({ format, compression, ...extra })), 'encoded')
    const data = out.flatMap(b => b.groups.filter(g => !g.dir.startsWith('_errors/')))
    const errors = errorLines(out)
    if (format === 'jsonl') {
      // JSON lines splice the bytes as they are: nothing to stringify, the record is data.
      assert.deepEqual(data.map(g => g.records), [3])
      assert.deepEqual(errors, [])
      return
    }
    assert.deepEqual(data.map(g => [g.firstOffset, g.lastOffset, g.records]), [[0, 2, 2]])
    assert.deepEqual(errors.map(e => e.offset), [1])
    assert.match(errors[0]!.reason, new RegExp(`^cannot be encoded as ${format}: Maximum call stack size exceeded`))
    assert.equal(errors[0]!.value, DEEP, 'the original bytes are kept')
    assert.equal(out[0]!.groups.find(g => g.dir.startsWith('_errors/'))!.dir, '_errors/events/dt=2026-11-20/hr=07')
    if (format === 'parquet') {
      // The rejected record left no partial row behind (its cells before the failing one are taken back).
      const [g] = data as [EncodedBatch['groups'][number]]
      const builder = g.layout!.open() as FileBuilder
      const head = builder.append(g, 0)
      const size = head.reduce((n, b) => n + b.length, 0)
      const file = Buffer.concat([...head, ...builder.finish(size)])
      const dir = await mkdtemp(join(tmpdir(), 'sediment-poison-'))
      t.after(async () => { await rm(dir, { recursive: true, force: true }) })
      await writeFile(join(dir, 'f.parquet'), file)
      const duck = await openDuck(t)
      const rows = await duck.rows(`SELECT * FROM read_parquet(${sqlString(join(dir, 'f.parquet'))})`)
      assert.deepEqual(rows.map(r => [String(r.n ?? r._extra), r.kafka_offset ?? null]), extra.wrap === true ? [['0', '0'], ['2', '2']] : [['0', null], ['2', null]])
    }
  })
}

test('encode: a format that throws for a record (not just rejects it) loses neither it nor the others', async () => {
  // A foreign producer of RoutedBatch may hand headers that are not bytes; wrapping them throws. The stage
  // finds the record that throws on its own and rejects it; the rest of the group is written.
  const rec = (offset: number, headers: KafkaRecord['headers']): ParsedRecord => {
    const value = Buffer.from(good(offset))
    return { offset, value, timestampMs: TS, kafka: { offset, key: null, value, timestamp: TS, headers } }
  }
  const records = [rec(5, {}), rec(6, { h: 42 as unknown as Buffer }), rec(7, { h: Buffer.from('x') })]
  const batch: RoutedBatch = {
    kind: 'routed',
    topic: 't',
    partition: 0,
    epoch: 1,
    firstOffset: 5,
    nextOffset: 8,
    rawBytes: 0,
    groups: [{ dir: 't/x', errors: false, offsets: [5, 6, 7], values: records.map(r => r.value), records }]
  }
  const out = only(await run([batch], encodeStage({ format: 'jsonl', compression: 'gzip', wrap: true })), 'encoded')
  const data = out[0]!.groups.find(g => g.dir === 't/x')!
  const lines = gunzipSync(data.data).toString().trim().split('\n').map(l => JSON.parse(l) as { offset: number })
  assert.deepEqual(lines.map(l => l.offset), [5, 7])
  const errors = errorLines(out)
  assert.deepEqual(errors.map(e => e.offset), [6])
  assert.match(errors[0]!.reason, /^cannot be encoded as jsonl: /)
  assert.equal(out[0]!.groups.find(g => g.dir.startsWith('_errors/'))!.dir, '_errors/t/x')
})

test('parse: a parser that throws for a message turns it into one error record, its neighbours parse', async () => {
  // Parsers never throw by contract; a value that is not a Buffer (a foreign producer of RecordBatch) makes
  // the JSON parser throw anyway.
  const records = [record(0, good(0)), { ...record(1, null), value: Object.create(null) as Buffer }, record(2, good(2))]
  const [batch] = only(await run([recordBatch(records)], parseStage({ type: 'json', timestampField: 'ts' })), 'parsed')
  assert.deepEqual(batch!.good.map(r => r.offset), [0, 2])
  assert.deepEqual(batch!.bad.map(r => r.offset), [1])
  assert.match(batch!.bad[0]!.reason, /^parser failed: /)
})

test('partition: a record the template cannot place becomes an error record, in offset order with the others', async () => {
  const rec = (offset: number, region: unknown): ParsedRecord =>
    ({ offset, value: Buffer.from(good(offset)), timestampMs: TS, fields: { region: region as string } })
  const batch: ParsedBatch = {
    kind: 'parsed',
    topic: 't',
    partition: 0,
    epoch: 1,
    firstOffset: 0,
    nextOffset: 4,
    rawBytes: 0,
    good: [rec(0, 'eu'), rec(1, Symbol('not text')), rec(3, 'us')],
    bad: [{ offset: 2, partition: 0, timestamp: TS, reason: 'not JSON', value: Buffer.from('x') }]
  }
  const [out] = only(await run([batch], partitionStage({ template: 'region={region}/dt={YYYY}-{MM}-{DD}', fields: ['region'] })), 'routed')
  assert.deepEqual(out!.groups.map(g => [g.dir, g.offsets]), [
    ['t/region=eu/dt=2026-11-20', [0]],
    ['t/region=us/dt=2026-11-20', [3]],
    ['_errors/t/region=__HIVE_DEFAULT_PARTITION__/dt=2026-11-20', [1, 2]]
  ])
  const errors = out!.groups.filter(g => g.errors)
  const unplaced = errors.flatMap(g => g.values.map(v => JSON.parse(v.toString()) as { offset: number, reason: string, value: string }))
    .find(e => e.offset === 1)!
  assert.match(unplaced.reason, /^cannot be placed by partition.template: /)
  assert.equal(unplaced.value, good(1))
})
