/**
 * Readable by real query engines: the service's output, downloaded with its key layout, read by DuckDB with Hive
 * partitioning (`dt=…/hr=…` directories become columns), gives exactly the expected count per dt/hr.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { validateConfig } from '../../src/config/options.js'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { createLogger } from '../../src/logger.js'
import { runService } from '../../src/service.js'
import { allCommitted, downloadData, serviceConfig, startStack, waitFor } from '../helpers/e2e.js'

test('DuckDB reads the output with hive partitioning and counts exactly the produced records per dt/hr', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'weblogs'
  await stack.kafka.createTopic(topic, 4)
  // 5,000 good messages over 6 hours (timestamps in s, ms, µs and ISO-8601) and one of each bad kind
  const messages = sampleMessages({ topic, partitions: 4, count: 5000, hours: 6, badPerKind: 1, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, messages)

  const config = validateConfig(serviceConfig(stack, topic, 'duck', { log: { level: 'warn' }, metrics: { port: 0 } }))
  const controller = new AbortController()
  const service = runService(config, { logger: createLogger({ level: 'warn' }), signal: controller.signal })
  t.after(async () => { controller.abort(); await service.catch(() => {}) })
  await waitFor('all offsets committed', 45_000, async () => await allCommitted(stack, 'duck', topic), 250)
  controller.abort()
  await service

  const objects = (await downloadData(stack, 'logs', join(stack.dir, 'logs'))).length
  assert.ok(objects > 6, `objects downloaded: ${objects}`)

  const expected = new Map<string, number>()
  for (const m of messages) {
    if (m.dir === undefined) continue
    const [, dt, hr] = /dt=([^/]+)\/hr=(\d\d)$/.exec(m.dir) ?? []
    expected.set(`${dt ?? ''} ${hr ?? ''}`, (expected.get(`${dt ?? ''} ${hr ?? ''}`) ?? 0) + 1)
  }
  assert.equal(expected.size, 6)

  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' })
  const duck = await instance.connect()
  t.after(() => { duck.closeSync(); instance.closeSync() })
  const glob = join(stack.dir, 'logs', topic, '**', '*.jsonl.gz').replace(/'/g, "''")
  const result = await duck.runAndReadAll(`
    SELECT CAST(dt AS VARCHAR) AS dt, lpad(CAST(hr AS VARCHAR), 2, '0') AS hr, count(*) AS n, count(DISTINCT id) AS ids
    FROM read_json_auto('${glob}', hive_partitioning = true)
    GROUP BY ALL ORDER BY ALL`)
  const rows = result.getRowObjectsJson() as Array<{ dt: string, hr: string, n: string, ids: string }>
  const found = new Map(rows.map((r) => [`${r.dt} ${r.hr}`, Number(r.n)]))
  t.diagnostic(`duckdb: ${rows.map((r) => `${r.dt}/${r.hr}=${r.n}`).join(' ')}`)
  assert.deepEqual(found, expected)
  for (const r of rows) assert.equal(r.ids, r.n, `no duplicates in ${r.dt}/${r.hr}`)
  assert.equal(rows.reduce((sum, r) => sum + Number(r.n), 0), 5000)

  // the partition columns are typed from the directory names, and a filter on them prunes to one directory
  const typed = await duck.runAndReadAll(`SELECT typeof(dt) AS t, count(*) AS n FROM read_json_auto('${glob}', hive_partitioning = true) WHERE dt = DATE '2026-11-20' AND hr = '03' GROUP BY ALL`)
  assert.deepEqual(typed.getRowObjectsJson(), [{ t: 'DATE', n: String(expected.get('2026-11-20 03')) }])
})
