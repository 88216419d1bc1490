import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { openDuck, sqlString } from './helpers/duckdb.js'
import {
  allCommitted, committedOffsets, downloadData, serviceConfig, spawnService, startStack, waitFor, writeConfig
} from './helpers/e2e.js'
import { sumOffsets } from './helpers/chaos.js'

// Parquet files are assembled by the sink (row groups, footer at the cut) instead of being concatenated chunks:
// the same protocol must keep them exactly once through kills on both sides of the commit.
test('Parquet output: SIGKILL between upload and commit and between commit and completion, still exactly once (read by DuckDB)', { timeout: 240_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'pq'
  const group = 'crash-parquet'
  await stack.kafka.createTopic(topic, 4)
  const messages = sampleMessages({ topic, partitions: 4, count: 12_000, hours: 4, badPerKind: 0 })
  await produce(stack.kafka.bootstrap, topic, messages)
  const config = await writeConfig(stack, 'crash-parquet', serviceConfig(stack, topic, group, {
    output: { format: 'parquet' },
    upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 2 },
    log: { level: 'info' }
  }))

  let committedBefore = 0
  const outputs: string[] = []
  for (const point of ['after-intent:6', 'after-commit:6']) {
    const run = spawnService(t, config, { SEDIMENT_CRASH_POINT: point })
    const exit = await run.exited
    outputs.push(run.output())
    assert.equal(exit.signal, 'SIGKILL', `killed at ${point}; output tail: ${run.output().slice(-2000)}`)
    const committedNow = sumOffsets(await committedOffsets(stack, group, topic))
    t.diagnostic(`killed at ${point}: committed ${committedBefore} → ${committedNow}`)
    assert.ok(committedNow > committedBefore, `work happened before the kill at ${point}`)
    committedBefore = committedNow
  }
  const last = spawnService(t, config)
  await waitFor('everything committed', 120_000, async () => await allCommitted(stack, group, topic), 500)
  last.child.kill('SIGTERM')
  assert.equal((await last.exited).code, 0, last.output().slice(-2000))
  assert.match(last.output(), /completing a cut committed by a previous owner/, 'the cut killed after its commit was completed by the next owner')

  const root = join(stack.dir, 'out')
  const keys = await downloadData(stack, 'logs', root)
  assert.ok(keys.every(k => k.endsWith('.parquet')), 'only Parquet data files')
  const duck = await openDuck(t)
  const rows = await duck.rows(`SELECT id, dt, hr FROM read_parquet(${sqlString(join(root, topic, '*', '*', '*.parquet'))}, hive_partitioning=true, union_by_name=true)`)
  const seen = new Map<string, string[]>()
  for (const r of rows) seen.set(String(r.id), [...(seen.get(String(r.id)) ?? []), `${topic}/dt=${String(r.dt)}/hr=${String(r.hr).padStart(2, '0')}`])
  const problems: string[] = []
  for (const m of messages) {
    const dirs = seen.get(m.id as string) ?? []
    if (dirs.length !== 1 || dirs[0] !== m.dir) problems.push(`${m.id as string}: [${dirs.join(', ')}] expected ${m.dir as string}`)
  }
  t.diagnostic(`${rows.length} rows in ${keys.length} Parquet files for ${messages.length} messages`)
  assert.deepEqual(problems.slice(0, 5), [])
  assert.equal(rows.length, messages.length)
})
