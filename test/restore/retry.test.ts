import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { restore } from '../../src/restore/restore.js'
import { connectTarget, type RestoreTarget } from '../../src/restore/target.js'
import { FileStore } from '../../src/sinks/file-store.js'
import { dataKey } from '../../src/sinks/layout.js'
import { wrappedJsonLines } from '../../src/stages/formats/jsonl.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'
import type { ParsedRecord } from '../../src/types.js'
import type { Stack } from '../helpers/e2e.js'
import { readTopic } from './helpers.js'

test('a send whose acknowledgement is lost is retried in place from the high watermark: exact result, no duplicates', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-restore-retry-'))
  const kafka = await MockKafka.start()
  t.after(async () => { await kafka.stop(); await rm(dir, { recursive: true, force: true }) })
  const store = new FileStore({ directory: dir })
  const expected = new Map<number, string[]>()
  for (const partition of [0, 1]) {
    for (const first of [0, 150]) {
      const offsets = Array.from({ length: 150 }, (_, i) => first + i)
      const values = offsets.map((o) => Buffer.from(JSON.stringify({ p: partition, o })))
      const records: ParsedRecord[] = offsets.map((offset, i) => ({ offset, value: values[i] as Buffer, timestampMs: 0, kafka: { offset, key: Buffer.from(`k${offset}`), value: values[i] as Buffer, timestamp: 1_700_000_000_000 + offset, headers: { h: String(offset) } } }))
      const group = { dir: 'ev/dt=2026-11-20/hr=07', errors: false, offsets, values, records }
      await store.put(dataKey('arch', group.dir, 0, partition, first, '.jsonl.gz'), gzipSync(wrappedJsonLines.encode(group, partition).data))
      expected.set(partition, [...(expected.get(partition) ?? []), ...values.map((v) => v.toString())])
    }
  }
  await kafka.createTopic('ev-restored', 2)
  const config = validateConfig({
    kafka: { brokers: kafka.bootstrap, groupId: 'g', topics: ['ev'] },
    output: { format: 'jsonl', wrap: true },
    sink: { type: 'file', directory: dir, prefix: 'arch' },
    log: { level: 'silent' }
  })
  // The real producer (no idempotence: the mock cannot give producer ids); sends 3 and 8 land, then "fail".
  const real = connectTarget(config.kafka, { idempotent: false, settleMs: 200 })
  let sends = 0
  const target: RestoreTarget = {
    ...real,
    send: async (topic, messages) => {
      await real.send(topic, messages)
      if (++sends === 3 || sends === 8) throw new Error(`ack lost (send ${sends})`)
    }
  }
  try {
    const stats = await restore({ config, store, sourceTopic: 'ev', targetTopic: 'ev-restored', range: { kind: 'time' }, target, batchRecords: 40 })
    t.diagnostic(JSON.stringify(stats))
    assert.ok(stats.skipped >= 80, `the retried objects skipped what had landed (${stats.skipped})`)
    assert.equal(stats.records + stats.skipped, 600)
  } finally {
    await real.close()
  }
  const got = await readTopic({ kafka } as unknown as Stack, 'ev-restored')
  for (const [p, values] of expected) assert.deepEqual(got.get(p)?.map((r) => r.value), values, `partition ${p}`)
  assert.deepEqual(got.get(0)?.slice(0, 2).map((r) => [r.key, r.headers, r.timestamp]), [['azA=', { h: 'MA==' }, '1700000000000'], ['azE=', { h: 'MQ==' }, '1700000000001']])
})
