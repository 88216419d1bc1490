import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'

const base = { kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'] }, sink: { bucket: 'my-bucket' } }
const output = (o: Record<string, unknown>) => validateConfig({ ...base, output: o }).output

function rejects (o: Record<string, unknown>, path: string, message: RegExp): void {
  assert.throws(() => output(o), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err))
    assert.equal(err.path, path, err.message)
    assert.match(err.message, message)
    return true
  })
}

test('output defaults per format and codec', () => {
  assert.deepEqual(output({}), { format: 'jsonl', compression: 'gzip', compressionLevel: 6 })
  assert.deepEqual(output({ compression: 'zstd' }), { format: 'jsonl', compression: 'zstd', compressionLevel: 3 })
  assert.deepEqual(output({ format: 'csv', columns: ['a', 'b.c'] }), { format: 'csv', compression: 'gzip', compressionLevel: 6, columns: ['a', 'b.c'], delimiter: ',' })
  assert.deepEqual(output({ format: 'raw', compression: 'none' }), { format: 'raw', compression: 'none', compressionLevel: 6, framing: 'newline' })
  assert.deepEqual(output({ format: 'parquet' }), { format: 'parquet', compression: 'snappy', compressionLevel: 6, parquet: { rowGroupBytes: 16 * 1024 * 1024 } })
  assert.deepEqual(output({ format: 'jsonl', wrap: true }), { format: 'jsonl', compression: 'gzip', compressionLevel: 6, wrap: true })
  assert.equal(output({ format: 'csv', columns: ['a'], delimiter: '\t' }).delimiter, '\t')
  assert.equal(output({ compression: 'zstd', compressionLevel: 19 }).compressionLevel, 19)
  assert.deepEqual(output({ format: 'parquet', wrap: true, parquet: { schema: { id: 'int64', 'user.name': 'string' }, rowGroupBytes: 65536 } }).parquet,
    { schema: { id: 'int64', 'user.name': 'string' }, rowGroupBytes: 65536 })
})

test('invalid output combinations name their path', () => {
  rejects({ compression: 'snappy' }, 'output.compression', /"snappy" is only for output.format "parquet"; use "gzip", "zstd" or "none" with "jsonl"/)
  rejects({ format: 'csv' }, 'output.columns', /required for output.format "csv"/)
  rejects({ format: 'csv', columns: [] }, 'output.columns', /non-empty list of field paths/)
  rejects({ format: 'csv', columns: ['a', 'a'] }, 'output.columns[1]', /duplicate column "a"/)
  rejects({ format: 'csv', columns: ['a..b'] }, 'output.columns[0]', /dotted path/)
  rejects({ format: 'csv', columns: ['a'], delimiter: ',,' }, 'output.delimiter', /one character/)
  rejects({ format: 'csv', columns: ['a'], delimiter: '"' }, 'output.delimiter', /other than a quote/)
  rejects({ columns: ['a'] }, 'output.columns', /only for output.format "csv", not "jsonl"/)
  rejects({ format: 'parquet', framing: 'newline' }, 'output.framing', /only for output.format "raw", not "parquet"/)
  rejects({ parquet: {} }, 'output.parquet', /only for output.format "parquet", not "jsonl"/)
  rejects({ format: 'raw', wrap: true }, 'output.wrap', /not possible with output.format "raw"/)
  rejects({ format: 'raw', framing: 'crlf' }, 'output.framing', /must be one of "newline", "length-prefixed"/)
  rejects({ compression: 'zstd', compressionLevel: 20 }, 'output.compressionLevel', /between 1 and 19/)
  rejects({ compression: 'gzip', compressionLevel: 12 }, 'output.compressionLevel', /between 1 and 9/)
  rejects({ format: 'parquet', parquet: { schema: { id: 'bigint' } } }, 'output.parquet.schema.id', /must be one of "string", "int32", "int64"/)
  rejects({ format: 'parquet', parquet: { schema: {} } }, 'output.parquet.schema', /non-empty mapping/)
  rejects({ format: 'parquet', parquet: { schema: { _extra: 'json' } } }, 'output.parquet.schema._extra', /a column the output adds itself/)
  rejects({ format: 'parquet', wrap: true, parquet: { schema: { kafka_key: 'string' } } }, 'output.parquet.schema.kafka_key', /a column the output adds itself/)
  rejects({ format: 'parquet', parquet: { rowGroupBytes: 1000 } }, 'output.parquet.rowGroupBytes', /between 65536 and/)
  rejects({ format: 'parquet', parquet: { schema: { a: 'string' }, schemaFile: 'x.yaml' } }, 'output.parquet', /schema or schemaFile, not both/)
  rejects({ format: 'parquet', parquet: { schemaFile: '/nonexistent/schema.yaml' } }, 'output.parquet.schemaFile', /cannot read/)
})

test('output.parquet.schemaFile: a YAML or JSON mapping, read and checked at validation', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-schema-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const good = join(dir, 'schema.yaml')
  await writeFile(good, 'id: int64\nuser.name: string\nts: timestamp\n')
  assert.deepEqual(output({ format: 'parquet', parquet: { schemaFile: good } }).parquet,
    { schemaFile: good, schema: { id: 'int64', 'user.name': 'string', ts: 'timestamp' }, rowGroupBytes: 16 * 1024 * 1024 })
  const bad = join(dir, 'bad.json')
  await writeFile(bad, '{"id": "uuid"}')
  rejects({ format: 'parquet', parquet: { schemaFile: bad } }, 'output.parquet.schemaFile.id', /must be one of/)
  const broken = join(dir, 'broken.yaml')
  await writeFile(broken, 'id: [int64\n')
  rejects({ format: 'parquet', parquet: { schemaFile: broken } }, 'output.parquet.schemaFile', /cannot parse/)
})
