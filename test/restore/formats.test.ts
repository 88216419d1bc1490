import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { test } from 'node:test'
import { chunkCompressor, type ChunkCodec } from '../../src/stages/formats/codec.js'
import { wrappedJsonLines } from '../../src/stages/formats/jsonl.js'
import { rawEncoder } from '../../src/stages/formats/raw.js'
import { wrappedRecord, type RestoredRecord } from '../../src/restore/decode.js'
import { objectFormat } from '../../src/restore/format.js'
import { codecOf, inflater, zstdAvailable } from '../../src/restore/inflate.js'
import { normalizeHour, timeMatcher } from '../../src/restore/select.js'
import { recordSplitter, type Framing } from '../../src/restore/split.js'
import type { OutputGroup, ParsedRecord } from '../../src/types.js'

const compress = async (codec: ChunkCodec, data: Buffer): Promise<Buffer> =>
  await new Promise((resolve, reject) => { chunkCompressor(codec).compress(Buffer.from(data), (err, out) => { err === null ? resolve(out) : reject(err) }) })

/** An object as the sink writes it: each chunk compressed on its own and appended (gzip members / zstd frames). */
async function objectOf (codec: ChunkCodec, chunks: Buffer[]): Promise<Buffer> {
  return Buffer.concat(await Promise.all(chunks.map(async (c) => await compress(codec, c))))
}

/** Reads `object` back through inflate and the splitter, fed in awkward piece sizes (1..97 bytes). */
async function readBack (key: string, object: Buffer, framing: Framing): Promise<Buffer[]> {
  const pieces: Buffer[] = []
  for (let i = 0, n = 1; i < object.length; i += n, n = (n * 31 + 7) % 97 + 1) pieces.push(object.subarray(i, i + n))
  const out: Buffer[] = []
  const inflate = inflater(codecOf(key))
  const sink = new Writable({ objectMode: true, write (batch: Buffer[], _e, done) { out.push(...batch); done() } })
  await pipeline([Readable.from(pieces), ...(inflate === undefined ? [] : [inflate]), recordSplitter(framing), sink])
  return out
}

function group (n: number, offset0: number): OutputGroup {
  const offsets: number[] = []
  const values: Buffer[] = []
  const records: ParsedRecord[] = []
  for (let i = 0; i < n; i++) {
    const offset = offset0 + i
    const value = Buffer.from(JSON.stringify({ id: i, s: 'é"value":{}', deep: { value: [i, { value: 'x' }] } }))
    const key = i % 4 === 0 ? null : i % 4 === 1 ? Buffer.from([0xff, 0xfe, i & 0xff]) : Buffer.from(`k"value":${i}`)
    const headers: Record<string, Buffer | string | undefined> = { a: Buffer.from(`h${i}`), '"value":': 'tricky', bin: Buffer.from([0x80, i & 0xff]) }
    offsets.push(offset)
    values.push(value)
    records.push({ offset, value, timestampMs: 1_700_000_000_000 + i, kafka: { offset, key, value, timestamp: 1_600_000_000_000 + i, headers } })
  }
  return { dir: 't/dt=2026-01-01/hr=00', errors: false, offsets, values, records }
}

const codecs: Array<[ChunkCodec, string]> = [['gzip', '.gz'], ['zstd', '.zst'], ['none', '']]

for (const [codec, ext] of codecs) {
  test(`wrapped JSON lines (${codec}): every record comes back with value bytes, key, headers, timestamp and offset`, { skip: codec === 'zstd' && !zstdAvailable ? `zstd needs node:zlib zstd (Node >= 22.15), this is Node ${process.versions.node}` : false }, async () => {
    const g1 = group(300, 100)
    const g2 = group(200, 400)
    const key = `t/dt=2026-01-01/hr=00/0_3_${'100'.padStart(20, '0')}.jsonl${ext}`
    const object = await objectOf(codec, [wrappedJsonLines.encode(g1, 3).data, wrappedJsonLines.encode(g2, 3).data])
    const format = objectFormat(key, true)
    const lines = await readBack(key, object, format.framing)
    assert.equal(lines.length, 500)
    const all = [g1, g2].flatMap((g) => g.records as ParsedRecord[])
    lines.forEach((line, i) => {
      const r: RestoredRecord = format.decode(line)
      const want = all[i] as ParsedRecord
      const kafka = want.kafka as NonNullable<ParsedRecord['kafka']>
      assert.deepEqual(r.value, want.value, `value ${i}`)
      assert.deepEqual(r.key, kafka.key, `key ${i}`)
      assert.equal(r.timestamp, kafka.timestamp)
      assert.equal(r.offset, want.offset)
      assert.equal(r.partition, 3)
      assert.deepEqual(r.headers, Object.fromEntries(Object.entries(kafka.headers).map(([k, v]) => [k, Buffer.from(v as Buffer | string)])))
    })
  })
}

test('raw framings: newline lines and length-prefixed binary values (line breaks included) come back byte for byte', async () => {
  const values = Array.from({ length: 400 }, (_, i) => Buffer.from(Array.from({ length: i % 50 + 1 }, (_, j) => (i * 7 + j * 13) % 256)))
  const records = values.map((value, offset) => ({ offset, value, timestampMs: 0 }))
  const bin = rawEncoder('length-prefixed').encode({ dir: 'd', errors: false, offsets: values.map((_, i) => i), values, records }, 0)
  const key = `t/d/0_0_${'0'.padStart(20, '0')}.bin.gz`
  assert.deepEqual(await readBack(key, await objectOf('gzip', [bin.data]), objectFormat(key, false).framing), values)

  const text = values.map((v) => Buffer.from(v.toString('hex')))
  const txt = rawEncoder('newline').encode({ dir: 'd', errors: false, offsets: text.map((_, i) => i), values: text, records: text.map((value, offset) => ({ offset, value, timestampMs: 0 })) }, 0)
  const tkey = `t/d/0_0_${'0'.padStart(20, '0')}.txt`
  assert.deepEqual(await readBack(tkey, txt.data, objectFormat(tkey, false).framing), text)
})

test('splitters refuse a record beyond the limit and a truncated length-prefixed object', async () => {
  const run = async (framing: Framing, data: Buffer, max?: number): Promise<void> => {
    await pipeline([Readable.from([data]), recordSplitter(framing, max), new Writable({ objectMode: true, write (_b, _e, done) { done() } })])
  }
  await assert.rejects(run('newline', Buffer.alloc(5000, 0x61), 1024), /exceeds 1024 bytes/)
  const prefixed = Buffer.alloc(8)
  prefixed.writeUInt32BE(100, 0)
  await assert.rejects(run('length-prefixed', prefixed), /ends inside a length-prefixed record/)
  const huge = Buffer.alloc(4)
  huge.writeUInt32BE(2 ** 31, 0)
  await assert.rejects(run('length-prefixed', huge, 1024), /exceeds 1024 bytes/)
})

test('wrapped line decoding: a bad line is a clear error', () => {
  assert.throws(() => wrappedRecord(Buffer.from('{"id":1}')), /not a wrapped JSON line/)
  assert.throws(() => wrappedRecord(Buffer.from('{"offset":1,"key":"value":x,"value":1}')), /not a wrapped JSON line/)
})

test('formats restore refuses: csv and Parquet, with the reason', () => {
  assert.throws(() => objectFormat('t/d/0_0_1.csv.gz', true), /columns, not the messages/)
  assert.throws(() => objectFormat('t/d/0_0_1.parquet', true), /Parquet/)
  assert.equal(objectFormat('t/d/0_0_1.jsonl.zst', false).wrapped, false)
})

test('time directories from the partition template', () => {
  const hourly = timeMatcher('dt={YYYY}-{MM}-{DD}/hr={HH}')
  assert.equal(hourly('dt=2026-11-20/hr=07'), '2026-11-20T07')
  assert.equal(hourly('dt=2026-11-20'), undefined)
  assert.equal(timeMatcher('{YYYY}/{MM}/{DD}')('2026/11/20'), '2026-11-20T00')
  assert.equal(timeMatcher('region={region}/{YYYY}{MM}{DD}/{HH}{mm}')('region=eu/20261120/0730'), '2026-11-20T07')
  assert.equal(timeMatcher('offset={offset:1000}')('offset=0'), undefined)
  assert.equal(normalizeHour('2026-11-20', '--from'), '2026-11-20T00')
  assert.equal(normalizeHour('2026-11-20T07', '--from'), '2026-11-20T07')
  assert.throws(() => normalizeHour('2026-11-20T07:30', '--from'), /YYYY-MM-DD/)
})
