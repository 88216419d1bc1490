import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { EncodeOptions } from '../../../src/stages/encode.js'
import { encodeStage } from '../../../src/stages/encode.js'
import { HAS_LINE_BREAK } from '../../../src/stages/formats/raw.js'
import { NOT_AN_OBJECT } from '../../../src/stages/formats/csv.js'
import type { EncodedBatch } from '../../../src/types.js'
import { openDuck, sqlString } from '../../helpers/duckdb.js'
import { only, run } from '../helpers.js'
import { byDir, dataGroup, errorGroup, routed, writeFiles } from './helpers.js'
import { zstdDecompressFrames } from '../../helpers/zstd.js'

async function tempDir (t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-formats-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function encode (options: EncodeOptions, batches: ReturnType<typeof routed>[]): Promise<EncodedBatch[]> {
  return only(await run(batches, encodeStage(options)), 'encoded')
}

const decode = (file: Buffer, codec: string): Buffer => codec === 'gzip' ? gunzipSync(file) : codec === 'zstd' ? zstdDecompressFrames(file) : file

test('extensions follow format and codec; error groups are JSON lines with the stream codec', async () => {
  const cases: Array<[EncodeOptions, string, string]> = [
    [{ format: 'jsonl', compression: 'gzip' }, '.jsonl.gz', '.jsonl.gz'],
    [{ format: 'jsonl', compression: 'zstd' }, '.jsonl.zst', '.jsonl.zst'],
    [{ format: 'jsonl', compression: 'none' }, '.jsonl', '.jsonl'],
    [{ format: 'csv', compression: 'gzip', columns: ['n'] }, '.csv.gz', '.jsonl.gz'],
    [{ format: 'csv', compression: 'zstd', columns: ['n'] }, '.csv.zst', '.jsonl.zst'],
    [{ format: 'raw', compression: 'none' }, '.txt', '.jsonl'],
    [{ format: 'raw', compression: 'zstd', framing: 'length-prefixed' }, '.bin.zst', '.jsonl.zst'],
    [{ format: 'parquet', compression: 'snappy' }, '.parquet', '.jsonl.gz'],
    [{ format: 'parquet', compression: 'zstd' }, '.parquet', '.jsonl.zst'],
    [{ format: 'parquet', compression: 'none' }, '.parquet', '.jsonl']
  ]
  for (const [options, data, errors] of cases) {
    const [batch] = await encode(options, [routed([dataGroup('t/h=1', [{ offset: 0, value: { n: 1 } }]), errorGroup('_errors/t/h=1', [[1, '{"offset":1}']])])])
    assert.deepEqual(batch?.groups.map(g => [g.dir, g.extension]), [['t/h=1', data], ['_errors/t/h=1', errors]], JSON.stringify(options))
  }
})

test('jsonl, plain and wrapped: each codec\'s chunks concatenate into one file that DuckDB and the codec read', async (t) => {
  const root = await tempDir(t)
  const duck = await openDuck(t)
  const headers = { trace: Buffer.from('abc'), bin: Buffer.from([0xff, 0xfe]), many: [Buffer.from('x'), 'y'] } as unknown as Record<string, Buffer>
  const batches = [
    routed([dataGroup('t/h=1', [{ offset: 0, value: { id: 'a', n: 1 }, key: Buffer.from('k0'), headers }, { offset: 1, value: { id: 'b', n: 2 } }])]),
    routed([dataGroup('t/h=1', [{ offset: 2, value: { id: 'c', n: 3 }, key: Buffer.from([0x80]) }])])
  ]
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    for (const wrap of [false, true]) {
      const out = await encode({ format: 'jsonl', compression, wrap }, batches)
      assert.equal(byDir(out).get('t/h=1')?.length, 2, 'one chunk per batch')
      const dir = join(root, `${compression}-${String(wrap)}`)
      const file = (await writeFiles(dir, out)).get('t/h=1') as string
      const lines = decode(await readFile(file), compression).toString().trimEnd().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
      if (!wrap) {
        assert.deepEqual(lines, [{ id: 'a', n: 1 }, { id: 'b', n: 2 }, { id: 'c', n: 3 }])
      } else {
        assert.deepEqual(lines[0], {
          offset: 0, partition: 3, key: 'k0', timestamp: 1_795_158_900_000,
          headers: { trace: 'abc', bin: 'base64://4=', many: ['x', 'y'] },
          value: { id: 'a', n: 1 }
        })
        assert.deepEqual(lines.map(l => [l.offset, l.key]), [[0, 'k0'], [1, null], [2, 'base64:gA==']])
      }
      const select = wrap ? 'value.id AS id, "offset"' : 'id, n'
      const rows = await duck.rows(`SELECT ${select} FROM read_json(${sqlString(file)}, format='newline_delimited') ORDER BY id`)
      assert.deepEqual(rows.map(r => r.id), ['a', 'b', 'c'], `${compression} wrap=${String(wrap)}`)
    }
  }
})

test('csv: RFC 4180 quoting round-trips through DuckDB for several delimiters; null and "" stay apart', async (t) => {
  const root = await tempDir(t)
  const duck = await openDuck(t)
  const texts = ['plain', 'a,b', 'semi;colon', 'say "hi"', 'line\nbreak', 'cr\rlf', 'tab\there', 'pipe|x', 'ümlaut ✓', '']
  const docs: Array<{ offset: number, value: { id: number, text?: string | null, nested: { v: number }, flag: boolean } }> =
    texts.map((text, i) => ({ offset: i, value: { id: i, text, nested: { v: i }, flag: i % 2 === 0 } }))
  docs.push({ offset: 10, value: { id: 10, text: null, nested: { v: 10 }, flag: true } })
  docs.push({ offset: 11, value: { id: 11, nested: { v: 11 }, flag: false } })
  for (const delimiter of [',', ';', '\t', '|']) {
    const out = await encode({ format: 'csv', compression: 'zstd', columns: ['id', 'text', 'nested.v', 'nested', 'flag'], delimiter }, [routed([dataGroup('t/h=1', docs)])])
    const file = (await writeFiles(join(root, String(delimiter.charCodeAt(0))), out)).get('t/h=1') as string
    const rows = await duck.rows(`SELECT * FROM read_csv(${sqlString(file)}, header=false, delim=${sqlString(delimiter)}, quote='"', escape='"',
      allow_quoted_nulls=false, columns={'id': 'INTEGER', 'text': 'VARCHAR', 'v': 'INTEGER', 'nested': 'VARCHAR', 'flag': 'BOOLEAN'}) ORDER BY id`)
    assert.deepEqual(rows.map(r => r.text), [...texts, null, null], `delimiter ${JSON.stringify(delimiter)}`)
    assert.deepEqual(rows.map(r => [r.v, r.nested, r.flag]), docs.map((d, i) => [i, `{"v":${i}}`, d.value.flag]))
  }
})

test('csv with wrap: the Kafka metadata columns come first', async () => {
  const [batch] = await encode({ format: 'csv', compression: 'none', columns: ['id'], wrap: true },
    [routed([dataGroup('t/h=1', [{ offset: 7, value: { id: 'x' }, key: Buffer.from('k'), headers: { a: Buffer.from('1') } }])])])
  assert.equal(batch?.groups[0]?.data.toString(), '7,3,k,1795158900007,"{""a"":""1""}",x\n')
})

test('raw: newline framing writes the original bytes; a value with a line break goes to the error output', async (t) => {
  const root = await tempDir(t)
  const group = dataGroup('t/h=1', [
    { offset: 0, value: 'first line' },
    // the JSON parser repaired the line break in `value`; raw output writes the original bytes
    { offset: 1, value: '{"a":"x y"}', raw: Buffer.from('{"a":"x\ny"}') },
    { offset: 2, value: 'third' }
  ])
  const out = await encode({ format: 'raw', compression: 'gzip' }, [routed([group])])
  const files = await writeFiles(root, out)
  assert.equal(gunzipSync(await readFile(files.get('t/h=1') as string)).toString(), 'first line\nthird\n')
  const errors = gunzipSync(await readFile(files.get('_errors/t/h=1') as string)).toString().trimEnd().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  assert.deepEqual(errors, [{ offset: 1, partition: 3, timestamp: 1_795_158_900_001, reason: HAS_LINE_BREAK, value: '{"a":"x\ny"}' }])
  const g = byDir(out).get('t/h=1')?.[0]
  assert.deepEqual([g?.firstOffset, g?.lastOffset, g?.records], [0, 2, 2])
})

test('raw: length-prefixed framing carries any bytes, zstd frames concatenated', async (t) => {
  const root = await tempDir(t)
  const values = [Buffer.from([0, 10, 13, 255]), Buffer.from('plain'), Buffer.alloc(70_000, 7)]
  const batches = values.map((v, i) => routed([dataGroup('t/h=1', [{ offset: i, value: v }])]))
  const out = await encode({ format: 'raw', compression: 'zstd', framing: 'length-prefixed' }, batches)
  const file = zstdDecompressFrames(await readFile((await writeFiles(root, out)).get('t/h=1') as string))
  const back: Buffer[] = []
  for (let pos = 0; pos < file.length;) {
    const length = file.readUInt32BE(pos)
    back.push(file.subarray(pos + 4, pos + 4 + length))
    pos += 4 + length
  }
  assert.deepEqual(back, values)
})

test('records a format cannot write go to _errors/<dir>, merged in offset order with the error records there', async () => {
  const group = dataGroup('t/h=1', [
    { offset: 0, value: { id: 0 } },
    { offset: 2, value: '[1,2]' },
    { offset: 4, value: 'not json' },
    { offset: 5, value: { id: 5 } }
  ])
  const existing = errorGroup('_errors/t/h=1', [[1, '{"offset":1,"reason":"bad"}'], [3, '{"offset":3,"reason":"bad"}']])
  for (const format of ['csv', 'parquet'] as const) {
    const [batch] = await encode({ format, compression: 'none', columns: ['id'] }, [routed([group, existing])])
    const data = batch?.groups.find(g => g.dir === 't/h=1')
    assert.deepEqual([data?.firstOffset, data?.lastOffset, data?.records], [0, 5, 2])
    const errors = batch?.groups.find(g => g.dir === '_errors/t/h=1')
    const lines = errors?.data.toString().trimEnd().split('\n').map(l => JSON.parse(l) as { offset: number, reason: string, value?: string })
    assert.deepEqual(lines?.map(l => l.offset), [1, 2, 3, 4])
    assert.deepEqual([errors?.firstOffset, errors?.lastOffset, errors?.records], [1, 4, 4])
    assert.deepEqual(lines?.filter(l => l.reason === NOT_AN_OBJECT).map(l => l.value), ['[1,2]', 'not json'])
  }
  // a group whose every record is rejected leaves only the error group
  const [batch] = await encode({ format: 'csv', compression: 'none', columns: ['id'] }, [routed([dataGroup('t/h=2', [{ offset: 9, value: '"text"' }])])])
  assert.deepEqual(batch?.groups.map(g => g.dir), ['_errors/t/h=2'])
})
