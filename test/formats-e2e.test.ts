import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { Kafka, logLevel } from 'kafkajs'
import { validateConfig } from '../src/config/options.js'
import { sampleMessages, type SampleMessage } from '../src/demo/sample-data.js'
import { createLogger } from '../src/logger.js'
import { runService } from '../src/service.js'
import { HAS_LINE_BREAK } from '../src/stages/formats/raw.js'
import { openDuck, sqlString, type Duck } from './helpers/duckdb.js'
import { allCommitted, downloadData, serviceConfig, startStack, waitFor, type Stack } from './helpers/e2e.js'
import { zstdDecompressFrames } from './helpers/zstd.js'

/**
 * Every output format and codec through the real service, the librdkafka mock cluster and s3rver: each
 * combination consumes its own topic (3 partitions, 3 hours of sample logs, the seven kinds of bad message and
 * two messages with line breaks), cuts often, and is read back with a real reader: DuckDB for JSON lines, CSV
 * and Parquet (hive partitioning: the dt/hr directories become columns), the codec libraries for raw framing.
 * Each good message must be found exactly once in its dt/hr directory, each bad one exactly once in `_errors/`.
 */

interface Combo {
  name: string
  output: Record<string, unknown>
  /** Reads the good records: id and the directory (below the prefix) each was found in. */
  read: (duck: Duck, root: string, topic: string) => Promise<Array<{ id: string, dir: string, extra?: Record<string, unknown> }>>
}

const COLUMNS = ['id', 'level', 'path', 'status', 'msg']
const CSV_TYPES = "'id': 'VARCHAR', 'level': 'VARCHAR', 'path': 'VARCHAR', 'status': 'INTEGER', 'msg': 'VARCHAR'"
const WRAP_CSV_TYPES = "'kafka_offset': 'BIGINT', 'kafka_partition': 'INTEGER', 'kafka_key': 'VARCHAR', 'kafka_timestamp': 'BIGINT', 'kafka_headers': 'VARCHAR', " + CSV_TYPES
const HIVE = 'hive_partitioning=1, hive_types_autocast=0'

const dirOf = (topic: string, r: Record<string, unknown>): string => `${topic}/dt=${String(r.dt)}/hr=${String(r.hr)}`
const glob = (root: string, topic: string, ext: string): string => sqlString(join(root, topic, '*', '*', `*${ext}`))

function jsonl (ext: string, wrap = false): Combo['read'] {
  return async (duck, root, topic) => {
    const id = wrap ? 'value.id' : 'id'
    const rows = await duck.rows(`SELECT ${id} AS id, dt, hr${wrap ? ', "offset", "partition", "key", headers' : ''}
      FROM read_json(${glob(root, topic, ext)}, format='newline_delimited', ${HIVE})`)
    return rows.map(r => ({ id: String(r.id), dir: dirOf(topic, r), extra: r }))
  }
}

function csv (ext: string, delimiter: string, wrap = false): Combo['read'] {
  return async (duck, root, topic) => {
    const rows = await duck.rows(`SELECT * FROM read_csv(${glob(root, topic, ext)}, header=false, delim=${sqlString(delimiter)}, quote='"',
      escape='"', allow_quoted_nulls=false, columns={${wrap ? WRAP_CSV_TYPES : CSV_TYPES}}, ${HIVE})`)
    return rows.map(r => ({ id: String(r.id), dir: dirOf(topic, r), extra: r }))
  }
}

function parquet (): Combo['read'] {
  return async (duck, root, topic) => {
    const rows = await duck.rows(`SELECT * FROM read_parquet(${glob(root, topic, '.parquet')}, ${HIVE}, union_by_name=true)`)
    return rows.map(r => ({ id: String(r.id), dir: dirOf(topic, r), extra: r }))
  }
}

/** Raw output is read with the codec libraries and split by its framing; the records are the original JSON. */
function raw (ext: string, framing: 'newline' | 'length-prefixed'): Combo['read'] {
  return async (_duck, root, topic) => {
    const out: Array<{ id: string, dir: string }> = []
    for (const file of await filesUnder(join(root, topic), ext)) {
      const bytes = await readFile(file)
      const plain = ext.endsWith('.gz') ? gunzipSync(bytes) : ext.endsWith('.zst') ? zstdDecompressFrames(bytes) : bytes
      const records: Buffer[] = []
      if (framing === 'newline') {
        for (const line of plain.toString('utf8').split('\n')) if (line !== '') records.push(Buffer.from(line))
      } else {
        for (let pos = 0; pos < plain.length;) {
          const length = plain.readUInt32BE(pos)
          records.push(plain.subarray(pos + 4, pos + 4 + length))
          pos += 4 + length
        }
      }
      const dir = dirname(relative(root, file))
      for (const r of records) out.push({ id: String((JSON.parse(r.toString('utf8')) as { id: unknown }).id), dir })
    }
    return out
  }
}

const combos: Combo[] = [
  { name: 'jsonl-gzip', output: { format: 'jsonl', compression: 'gzip' }, read: jsonl('.jsonl.gz') },
  { name: 'jsonl-zstd-wrap', output: { format: 'jsonl', compression: 'zstd', wrap: true }, read: jsonl('.jsonl.zst', true) },
  { name: 'jsonl-none', output: { format: 'jsonl', compression: 'none' }, read: jsonl('.jsonl') },
  { name: 'csv-gzip', output: { format: 'csv', compression: 'gzip', columns: COLUMNS }, read: csv('.csv.gz', ',') },
  { name: 'csv-zstd-tab-wrap', output: { format: 'csv', compression: 'zstd', columns: COLUMNS, delimiter: '\t', wrap: true }, read: csv('.csv.zst', '\t', true) },
  { name: 'csv-none-semicolon', output: { format: 'csv', compression: 'none', columns: COLUMNS, delimiter: ';' }, read: csv('.csv', ';') },
  { name: 'raw-newline-gzip', output: { format: 'raw', compression: 'gzip' }, read: raw('.txt.gz', 'newline') },
  { name: 'raw-newline-none', output: { format: 'raw', compression: 'none' }, read: raw('.txt', 'newline') },
  { name: 'raw-lp-zstd', output: { format: 'raw', compression: 'zstd', framing: 'length-prefixed' }, read: raw('.bin.zst', 'length-prefixed') },
  { name: 'parquet-snappy', output: { format: 'parquet' }, read: parquet() },
  {
    name: 'parquet-zstd-schema-wrap',
    output: {
      format: 'parquet', compression: 'zstd', wrap: true,
      parquet: { schema: { id: 'string', ts: 'timestamp', level: 'string', status: 'int32', latencyMs: 'int64', msg: 'string' } }
    },
    read: parquet()
  },
  { name: 'parquet-gzip', output: { format: 'parquet', compression: 'gzip' }, read: parquet() },
  { name: 'parquet-none', output: { format: 'parquet', compression: 'none' }, read: parquet() }
]

const GOOD = 1500
const START = Date.UTC(2026, 10, 20, 0, 0, 0)

/** Sample logs plus two valid JSON messages with line breaks (one between tokens, one escaped in a string). */
function messages (topic: string): SampleMessage[] {
  const out = sampleMessages({ topic, partitions: 3, count: GOOD, hours: 3, badPerKind: 1, timestampField: 'ts' })
  for (let i = 0; i < 2; i++) {
    const ts = START + 3_600_000 + i * 1000
    const value = Buffer.from(`{"id":"lb-${i}",\n"ts":${ts},"level":"info","path":"/x","status":200,"msg":"two\\nlines, \\"quoted\\"; tab\\there"}`)
    out.push({ partition: i, value, timestamp: ts, id: `lb-${i}`, dir: `${topic}/dt=2026-11-20/hr=01` })
  }
  return out
}

/**
 * Produces with keys (the id, or none for bad messages) and a header, so that wrapping has something to show; in
 * small sends, so that the log holds many small record batches and the service fetches them in many batches.
 */
async function produce (stack: Stack, topic: string, list: SampleMessage[]): Promise<void> {
  const producer = new Kafka({ clientId: 'formats-e2e', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  try {
    for (let i = 0; i < list.length; i += 60) {
      await producer.send({
        topic,
        acks: -1,
        messages: list.slice(i, i + 60).map(m => ({ partition: m.partition, key: m.id ?? null, value: m.value, timestamp: String(m.timestamp), headers: { source: 'formats-e2e' } }))
      })
    }
  } finally {
    await producer.disconnect()
  }
}

async function filesUnder (dir: string, ext: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile() && entry.name.endsWith(ext)) out.push(join(entry.parentPath, entry.name))
  }
  return out.sort()
}

/** Error records (JSON lines with the stream codec), read with the codec libraries. */
async function readErrors (root: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = []
  for (const file of await filesUnder(join(root, '_errors'), '')) {
    const bytes = await readFile(file)
    const plain = file.endsWith('.gz') ? gunzipSync(bytes) : file.endsWith('.zst') ? zstdDecompressFrames(bytes) : bytes
    for (const line of plain.toString('utf8').split('\n')) if (line !== '') out.push(JSON.parse(line) as Record<string, unknown>)
  }
  return out
}

test('every output format and codec: each record exactly once in its dt/hr directory, read back with real readers', { timeout: 170_000 }, async (t) => {
  const stack = await startStack(t)
  const started = Date.now()
  const produced = new Map<string, SampleMessage[]>()
  for (const combo of combos) {
    const topic = `f-${combo.name}`
    await stack.kafka.createTopic(topic, 3)
    produced.set(combo.name, messages(topic))
    await produce(stack, topic, produced.get(combo.name) as SampleMessage[])
  }
  t.diagnostic(`produced ${combos.length} topics in ${Date.now() - started} ms`)

  // One service per combination, all at once (each its own group and prefix). Small fetches and small cuts: a
  // file is many chunks (one per fetched batch), and a directory gets several files.
  const controllers = combos.map(() => new AbortController())
  const logger = createLogger({ level: 'warn' })
  const services = combos.map((combo, i) => {
    const config = validateConfig(serviceConfig(stack, `f-${combo.name}`, `g-${combo.name}`, {
      kafka: { maxBytesPerPartition: 4096 },
      output: combo.output,
      sink: { prefix: combo.name },
      upload: { maxFileBytes: 16 * 1024, maxFileAgeSeconds: 3 },
      metrics: { enabled: false },
      log: { level: 'warn' }
    }))
    return runService(config, { logger, signal: (controllers[i] as AbortController).signal })
  })
  try {
    await waitFor('every combination committed to the end', 120_000, async () => {
      for (const combo of combos) if (!await allCommitted(stack, `g-${combo.name}`, `f-${combo.name}`)) return false
      return true
    }, 500)
  } finally {
    for (const c of controllers) c.abort()
  }
  const stats = await Promise.all(services)
  t.diagnostic(`all committed and stopped after ${Date.now() - started} ms`)

  const duck = await openDuck(t)
  for (const [i, combo] of combos.entries()) {
    const topic = `f-${combo.name}`
    const list = produced.get(combo.name) as SampleMessage[]
    const root = join(stack.dir, combo.name)
    const keys = await downloadData(stack, combo.name, root)
    const newlineRaw = combo.output.format === 'raw' && combo.output.framing !== 'length-prefixed'
    const expectedGood = list.filter(m => m.id !== undefined && !(newlineRaw && m.id.startsWith('lb-')))

    // good records: exactly once, in the directory of their event time
    const found = await combo.read(duck, root, topic)
    const seen = new Map<string, string[]>()
    for (const r of found) seen.set(r.id, [...(seen.get(r.id) ?? []), r.dir])
    const problems: string[] = []
    for (const m of expectedGood) {
      const dirs = seen.get(m.id as string) ?? []
      if (dirs.length !== 1 || dirs[0] !== m.dir) problems.push(`${m.id as string}: found in [${dirs.join(', ')}], expected ${m.dir as string}`)
      seen.delete(m.id as string)
    }
    for (const id of seen.keys()) problems.push(`unexpected ${id}`)
    assert.deepEqual(problems.slice(0, 5), [], combo.name)

    // bad records (and, with newline framing, the messages with line breaks): exactly once in _errors/
    const errors = await readErrors(root)
    const expectedBad = list.filter(m => m.id === undefined || (newlineRaw && m.id.startsWith('lb-')))
    const errorValues = errors.map(e => typeof e.valueBase64 === 'string' ? Buffer.from(e.valueBase64, 'base64') : Buffer.from(String(e.value)))
    assert.deepEqual(errorValues.map(v => v.toString('base64')).sort(), expectedBad.map(m => (m.value as Buffer).toString('base64')).sort(), `${combo.name}: errors`)
    if (newlineRaw) assert.equal(errors.filter(e => e.reason === HAS_LINE_BREAK).length, 2)
    assert.equal(stats[i]?.recordsCommitted, list.length, `${combo.name}: records committed`)
    assert.ok(keys.every(k => k.startsWith(`${combo.name}/${topic}/dt=`) || k.startsWith(`${combo.name}/_errors/${topic}/dt=`)), combo.name)
    const dataFiles = keys.filter(k => !k.includes('/_errors/'))
    const dirs = new Set(dataFiles.map(k => dirname(k)))
    assert.ok(dataFiles.length > dirs.size, `${combo.name}: several files per directory`)
    const ext = (dataFiles[0] ?? '').replace(/^.*?\d{20}/, '')
    t.diagnostic(`${combo.name}: ${found.length} good + ${errors.length} error records, ${dataFiles.length} data files in ${dirs.size} directories (${ext})`)

    // with wrap: the Kafka metadata is there, and (partition, offset) of data and errors cover each message once
    if (combo.output.wrap === true) {
      const offsets = new Set<string>()
      for (const r of found) {
        const e = r.extra as Record<string, unknown>
        const key = e.kafka_key ?? e.key
        assert.equal(key, r.id, `${combo.name}: key`)
        const headers = String(e.kafka_headers ?? JSON.stringify(e.headers))
        assert.equal(JSON.parse(headers).source, 'formats-e2e')
        offsets.add(`${String(e.kafka_partition ?? e.partition)}:${String(e.kafka_offset ?? e.offset)}`)
      }
      for (const e of errors) offsets.add(`${String(e.partition)}:${String(e.offset)}`)
      assert.equal(offsets.size, list.length, `${combo.name}: every (partition, offset) once`)
    }
  }

  // the configured Parquet schema: typed columns, and the event time column agrees with its directory
  const root = join(stack.dir, 'parquet-zstd-schema-wrap')
  const [check] = await duck.rows(`SELECT count(*) n, count(*) FILTER (WHERE strftime(ts, '%Y-%m-%d') = dt AND strftime(ts, '%H') = hr) placed,
    count(_extra) extra, typeof(any_value(status)) status, typeof(any_value(kafka_timestamp)) kts
    FROM read_parquet(${glob(root, 'f-parquet-zstd-schema-wrap', '.parquet')}, ${HIVE})`)
  assert.deepEqual(check, { n: String(GOOD + 2), placed: String(GOOD + 2), extra: '0', status: 'INTEGER', kts: 'TIMESTAMP' })
  // CSV kept the message with a quote, delimiter and line break intact
  const csvRows = await combos[3]?.read(duck, join(stack.dir, 'csv-gzip'), 'f-csv-gzip')
  assert.equal(csvRows?.find(r => r.id === 'lb-0')?.extra?.msg, 'two\nlines, "quoted"; tab\there')
  t.diagnostic(`total ${Date.now() - started} ms`)
})
