import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeStage, type EncodeOptions } from '../../../src/stages/encode.js'
import { PAGE_ROWS } from '../../../src/stages/formats/parquet-writer.js'
import type { EncodedBatch, EncodedGroup, FileBuilder, OutputGroup, PipelineItem } from '../../../src/types.js'
import { openDuck, sqlString } from '../../helpers/duckdb.js'
import { only, run } from '../helpers.js'
import { dataGroup, routed } from './helpers.js'

async function tempDir (t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-parquet-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function encode (options: Partial<EncodeOptions>, items: PipelineItem[]): Promise<EncodedBatch[]> {
  return only(await run(items, encodeStage({ format: 'parquet', compression: 'snappy', ...options })), 'encoded')
}

/** Assembles chunks of one directory into a file as the sink's OpenFile does; returns the bytes and builder peaks. */
function assemble (groups: EncodedGroup[]): { file: Buffer, maxHeld: number } {
  let builder: FileBuilder | undefined
  const pieces: Buffer[] = []
  let size = 0
  let maxHeld = 0
  const take = (bufs: Buffer[]): void => { for (const b of bufs) { pieces.push(b); size += b.length } }
  for (const g of groups) {
    assert.ok(g.layout !== undefined)
    assert.equal(g.layout.id, groups[0]?.layout?.id, 'one schema per file')
    builder ??= g.layout.open()
    take(builder.append(g, size))
    maxHeld = Math.max(maxHeld, builder.heldBytes)
  }
  take((builder as FileBuilder).finish(size))
  return { file: Buffer.concat(pieces), maxHeld }
}

async function writeParquet (dir: string, name: string, batches: EncodedBatch[], groupDir = 't/h=1'): Promise<string> {
  const file = join(dir, `${name}.parquet`)
  await writeFile(file, assemble(batches.flatMap(b => b.groups.filter(g => g.dir === groupDir))).file)
  return file
}

const docs = (from: number, n: number, make: (i: number) => unknown): Array<{ offset: number, value: unknown }> =>
  Array.from({ length: n }, (_, k) => ({ offset: from + k, value: make(from + k) }))

/** Rebuilds each record from its columns and `_extra` (nulls of absent fields dropped): proves nothing is lost. */
function rebuild (row: Record<string, unknown>, jsonColumns: string[]): Record<string, unknown> {
  const doc: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(row)) {
    if (k === '_extra' || v === null) continue
    doc[k] = jsonColumns.includes(k) ? JSON.parse(String(v)) : v
  }
  if (row._extra !== null) Object.assign(doc, JSON.parse(String(row._extra)))
  return doc
}

test('inferred schema: types from the first records of a directory; later misfits and new fields go to _extra, nothing is lost', async (t) => {
  const dir = await tempDir(t)
  const duck = await openDuck(t)
  const first = docs(0, 50, i => ({ id: i, price: i % 2 === 0 ? i : i + 0.5, name: `n${i}`, ok: i % 3 === 0, tags: ['a', i], meta: { k: i }, mixed: i % 2 === 0 ? 'x' : 1, nothing: null }))
  const later = docs(50, 50, i => i === 60
    ? { id: 'sixty', price: 'cheap', name: 60, ok: 'yes', extra: { deep: true }, _extra: 'mine' }
    : { id: i, price: i, name: `n${i}`, ok: true, tags: [], meta: null, mixed: { m: i }, nothing: i, added: i })
  const out = await encode({}, [routed([dataGroup('t/h=1', first)]), routed([dataGroup('t/h=1', later)])])
  const file = await writeParquet(dir, 'inferred', out)
  const types = Object.fromEntries((await duck.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`)).map(r => [r.column_name, r.column_type]))
  assert.deepEqual(types, { id: 'BIGINT', price: 'DOUBLE', name: 'VARCHAR', ok: 'BOOLEAN', tags: 'JSON', meta: 'JSON', mixed: 'JSON', nothing: 'JSON', _extra: 'JSON' })
  const rows = await duck.rows(`SELECT * FROM read_parquet(${sqlString(file)})`)
  assert.equal(rows.length, 100)
  const r60 = rows[60] as Record<string, unknown>
  assert.deepEqual([r60.id, r60.price, r60.name, r60.ok], [null, null, '60', null])
  assert.deepEqual(JSON.parse(String(r60._extra)), { id: 'sixty', price: 'cheap', ok: 'yes', extra: { deep: true }, _extra: 'mine' })
  assert.deepEqual(JSON.parse(String(rows[70]?._extra)), { added: 70 })
  // Every record comes back whole from its columns plus _extra (name 60 became the string "60": a string column
  // takes numbers as their JSON text).
  const input = [...first, ...later].map(d => d.value as Record<string, unknown>)
  rows.forEach((row, i) => {
    const expected = Object.fromEntries(Object.entries(input[i] as object).filter(([, v]) => v !== null))
    if (i === 60) expected.name = '60'
    const back = rebuild({ ...row, id: row.id === null ? null : Number(row.id) }, ['tags', 'meta', 'mixed', 'nothing'])
    assert.deepEqual(back, expected, `record ${i}`)
  })
})

test('configured schema: dotted paths, conversions, misfits to _extra, other fields not written', async (t) => {
  const dir = await tempDir(t)
  const duck = await openDuck(t)
  const schema = { id: 'int64', 'user.name': 'string', small: 'int32', ts: 'timestamp', score: 'float', ok: 'boolean', raw: 'json' } as const
  const values = [
    { id: 1, user: { name: 'ann' }, small: 5, ts: '2026-11-20T07:15:00Z', score: 1.5, ok: true, raw: { a: [1] }, ignored: 'x' },
    { id: '2', user: { name: 7 }, small: 2 ** 31, ts: 1795158900, score: '2.25', ok: 'true', raw: 'text' },
    { id: 3.5, small: -1, ts: 'not a time', score: 1e39 }
  ]
  const out = await encode({ parquetSchema: { ...schema } }, [routed([dataGroup('t/h=1', values.map((value, offset) => ({ offset, value })))])])
  const file = await writeParquet(dir, 'configured', out)
  const types = Object.fromEntries((await duck.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`)).map(r => [r.column_name, r.column_type]))
  assert.deepEqual(types, { id: 'BIGINT', 'user.name': 'VARCHAR', small: 'INTEGER', ts: 'TIMESTAMP', score: 'FLOAT', ok: 'BOOLEAN', raw: 'JSON', _extra: 'JSON' })
  const rows = await duck.rows(`SELECT * FROM read_parquet(${sqlString(file)})`)
  assert.deepEqual(rows.map(r => [r.id, r['user.name'], r.small, r.ts, r.score, r.ok, r.raw]), [
    ['1', 'ann', 5, '2026-11-20 07:15:00', 1.5, true, '{"a":[1]}'],
    ['2', '7', null, '2026-11-20 07:15:00', 2.25, null, '"text"'],
    [null, null, -1, null, null, null, null]
  ])
  assert.deepEqual(rows.map(r => r._extra === null ? null : JSON.parse(String(r._extra))), [
    null,
    { small: 2 ** 31, ok: 'true' },
    { id: 3.5, ts: 'not a time', score: 1e39 }
  ])
})

test('wrap: Kafka metadata columns first, typed', async (t) => {
  const dir = await tempDir(t)
  const duck = await openDuck(t)
  const group = dataGroup('t/h=1', [{ offset: 41, value: { id: 'a', kafka_offset: 'field of the record' }, key: Buffer.from('key'), headers: { h: Buffer.from('v') } }])
  const file = await writeParquet(dir, 'wrap', await encode({ wrap: true }, [routed([group], 6)]))
  const rows = await duck.rows(`SELECT *, typeof(kafka_offset) o, typeof(kafka_partition) p, typeof(kafka_timestamp) ts FROM read_parquet(${sqlString(file)})`)
  assert.deepEqual(rows, [{
    kafka_offset: '41', kafka_partition: 6, kafka_key: 'key', kafka_timestamp: '2026-11-20 07:15:00.041', kafka_headers: '{"h":"v"}',
    id: 'a', _extra: '{"kafka_offset":"field of the record"}', o: 'BIGINT', p: 'INTEGER', ts: 'TIMESTAMP'
  }])
})

test('every page codec, several row groups and pages: DuckDB reads the file; held bytes stay bounded', async (t) => {
  const dir = await tempDir(t)
  const duck = await openDuck(t)
  const rowGroupBytes = 16 * 1024
  const batches = [
    routed([dataGroup('t/h=1', docs(0, PAGE_ROWS + 5000, i => ({ id: i, s: `value-${i % 977}`, d: i / 7 })))]),
    ...Array.from({ length: 20 }, (_, b) => routed([dataGroup('t/h=1', docs(25_000 + b * 500, 500, i => ({ id: i, s: `value-${i % 977}`, d: i / 7 })))]))
  ]
  for (const compression of ['snappy', 'gzip', 'zstd', 'none'] as const) {
    const out = await encode({ compression, rowGroupBytes }, batches)
    const groups = out.flatMap(b => b.groups)
    const { file: bytes, maxHeld } = assemble(groups)
    const largestChunk = Math.max(...groups.map(g => g.data.length))
    assert.ok(maxHeld < rowGroupBytes + largestChunk, `${compression}: held ${maxHeld}`)
    const file = join(dir, `${compression}.parquet`)
    await writeFile(file, bytes)
    const [summary] = await duck.rows(`SELECT count(*) n, count(DISTINCT id) ids, min(id) lo, max(id) hi, round(sum(d), 3) d FROM read_parquet(${sqlString(file)})`)
    assert.deepEqual(summary, { n: '35000', ids: '35000', lo: '0', hi: '34999', d: 34999 * 35000 / 2 / 7 }, compression)
    const meta = await duck.rows(`SELECT DISTINCT row_group_id, compression FROM parquet_metadata(${sqlString(file)})`)
    assert.ok(meta.length > 2, `${compression}: ${meta.length} row groups`)
    assert.deepEqual([...new Set(meta.map(m => m.compression))], [compression === 'none' ? 'UNCOMPRESSED' : compression.toUpperCase()])
    // min/max statistics let readers skip row groups
    const [skipped] = await duck.rows(`SELECT count(*) n FROM read_parquet(${sqlString(file)}) WHERE id BETWEEN 100 AND 199`)
    assert.equal(skipped?.n, '100')
  }
})

test('inferred schemas are kept per directory until a reassignment', async () => {
  const g = (dir: string, offset: number, value: unknown): OutputGroup => dataGroup(dir, [{ offset, value }])
  const out = await encode({}, [
    routed([g('t/a', 0, { x: 1 }), g('t/b', 1, { y: 'b' })]),
    routed([g('t/a', 2, { z: true })]),
    { kind: 'assignment', epoch: 2, partitions: [] },
    routed([g('t/a', 3, { z: true })])
  ])
  const ids = out.map(b => b.groups.map(gr => [gr.dir, gr.layout?.id]))
  assert.equal(ids[0]?.[0]?.[1], ids[1]?.[0]?.[1], 'same directory, same schema')
  assert.notEqual(ids[0]?.[0]?.[1], ids[0]?.[1]?.[1], 'another directory infers its own')
  assert.notEqual(ids[2]?.[0]?.[1], ids[0]?.[0]?.[1], 'after a reassignment the schema is inferred again')
})
