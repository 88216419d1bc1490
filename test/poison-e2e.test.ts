import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { Kafka, logLevel } from 'kafkajs'
import { zstdDecompressFrames as zstdDecompress } from './helpers/zstd.js'
import { validateConfig } from '../src/config/options.js'
import { createLogger } from '../src/logger.js'
import { runService } from '../src/service.js'
import { openDuck, sqlString } from './helpers/duckdb.js'
import { allCommitted, committedOffsets, downloadData, endOffsets, serviceConfig, startStack, waitFor } from './helpers/e2e.js'

/**
 * Issue 10, item 3, through the real service, the librdkafka mock cluster and s3rver: a 10 KB JSON value nested
 * 5,000 deep sits among good records. JSON.parse reads it, but JSON.stringify of its nested field overflows the
 * stack in the CSV and Parquet encoders; that used to fail the encode stage, the service restarted from the last
 * commit and met the record again, forever. Now the committed offset passes it, every good record is in the data
 * exactly once (read back with DuckDB) and the poisonous one is in `_errors/` with its reason.
 */

const GOOD = 300
const POISON_AT = 150
const TS = Date.UTC(2026, 10, 20, 7, 0, 0)
const POISON = `{"id":"poison","ts":${TS},"a":${'['.repeat(5000)}${']'.repeat(5000)}}`

const outputs = [
  { name: 'csv', output: { format: 'csv', compression: 'gzip', columns: ['id', 'ts', 'a'] } },
  { name: 'parquet', output: { format: 'parquet', compression: 'snappy' } }
] as const

function values (): string[] {
  const out: string[] = []
  for (let i = 0; i < GOOD; i++) {
    if (i === POISON_AT) out.push(POISON)
    out.push(JSON.stringify({ id: `g-${i}`, ts: TS + i * 1000, a: { n: i, list: [i, [i]] } }))
  }
  return out
}

async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter(e => e.isFile()).map(e => join(e.parentPath, e.name)).sort()
}

test('a poisonous record among good ones (CSV, Parquet): the commit passes it, good records once in data, it in _errors/ with its reason', { timeout: 90_000 }, async (t) => {
  const stack = await startStack(t)
  const list = values()
  const producer = new Kafka({ clientId: 'poison-e2e', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  for (const { name } of outputs) {
    await stack.kafka.createTopic(`p-${name}`, 1)
    for (let i = 0; i < list.length; i += 50) {
      await producer.send({ topic: `p-${name}`, acks: -1, messages: list.slice(i, i + 50).map(value => ({ partition: 0, value, timestamp: String(TS) })) })
    }
  }
  await producer.disconnect()

  const started = Date.now()
  const controllers = outputs.map(() => new AbortController())
  const logger = createLogger({ level: 'silent' })
  const services = outputs.map(({ name, output }, i) => runService(validateConfig(serviceConfig(stack, `p-${name}`, `g-${name}`, {
    kafka: { maxBytesPerPartition: 8192 },
    output,
    sink: { prefix: name },
    upload: { maxFileAgeSeconds: 2 },
    metrics: { enabled: false },
    log: { level: 'silent' }
  })), { logger, signal: (controllers[i] as AbortController).signal }))
  try {
    // Before the fix this never happened: the committed offset stayed below the poisonous record.
    await waitFor('both groups committed past the poisonous record to the end', 30_000, async () => {
      for (const { name } of outputs) if (!await allCommitted(stack, `g-${name}`, `p-${name}`)) return false
      return true
    }, 300)
  } finally {
    for (const c of controllers) c.abort()
    await Promise.allSettled(services)
  }
  t.diagnostic(`committed to the end and stopped after ${Date.now() - started} ms`)

  const duck = await openDuck(t)
  for (const { name } of outputs) {
    const topic = `p-${name}`
    assert.equal((await committedOffsets(stack, `g-${name}`, topic)).get(0), (await endOffsets(stack, topic)).get(0))
    assert.equal((await endOffsets(stack, topic)).get(0), GOOD + 1)
    const root = join(stack.dir, name)
    await downloadData(stack, name, root)
    const glob = sqlString(join(root, topic, '*', '*', name === 'csv' ? '*.csv.gz' : '*.parquet'))
    const rows = name === 'csv'
      ? await duck.rows(`SELECT id FROM read_csv(${glob}, header=false, quote='"', escape='"', columns={'id': 'VARCHAR', 'ts': 'BIGINT', 'a': 'VARCHAR'})`)
      : await duck.rows(`SELECT id FROM read_parquet(${glob})`)
    const ids = rows.map(r => String(r.id)).sort()
    assert.equal(ids.length, GOOD, `${name}: good records`)
    assert.deepEqual(ids, Array.from({ length: GOOD }, (_, i) => `g-${i}`).sort(), `${name}: each good record exactly once`)

    const errors: Array<Record<string, unknown>> = []
    for (const file of await filesUnder(join(root, '_errors'))) {
      const bytes = await readFile(file)
      const plain = file.endsWith('.gz') ? gunzipSync(bytes) : file.endsWith('.zst') ? zstdDecompress(bytes) : bytes
      for (const line of plain.toString('utf8').split('\n')) if (line !== '') errors.push(JSON.parse(line) as Record<string, unknown>)
    }
    assert.equal(errors.length, 1, `${name}: one error record`)
    const [bad] = errors as [Record<string, unknown>]
    assert.equal(bad.offset, POISON_AT)
    assert.equal(bad.value, POISON, `${name}: the original bytes`)
    assert.match(String(bad.reason), new RegExp(`^cannot be encoded as ${name}: Maximum call stack size exceeded`))
    t.diagnostic(`${name}: ${ids.length} good records once, error record at offset ${String(bad.offset)}: ${String(bad.reason)}`)
  }
})
