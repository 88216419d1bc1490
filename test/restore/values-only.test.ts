import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import { validateConfig } from '../../src/config/options.js'
import { restore } from '../../src/restore/restore.js'
import { FileStore } from '../../src/sinks/file-store.js'
import { dataKey } from '../../src/sinks/layout.js'
import { rawEncoder } from '../../src/stages/formats/raw.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'

test('values only: raw length-prefixed archives (any bytes, line breaks included) come back byte for byte, partition kept', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-restore-raw-'))
  const kafka = await MockKafka.start()
  t.after(async () => { await kafka.stop(); await rm(dir, { recursive: true, force: true }) })
  const store = new FileStore({ directory: dir })
  const values = Array.from({ length: 300 }, (_, i) => Buffer.from([i & 0xff, 10, 13, 0, 0xff, ...Buffer.from(`v${i}\n`)]))
  const group = { dir: 'bin/dt=2026-11-20/hr=07', errors: false, offsets: values.map((_, i) => i), values, records: values.map((value, offset) => ({ offset, value, timestampMs: 0 })) }
  await store.put(dataKey('arch', group.dir, 0, 1, 0, '.bin.gz'), gzipSync(rawEncoder('length-prefixed').encode(group, 1).data))
  await kafka.createTopic('bin-restored', 2)
  const config = validateConfig({
    kafka: { brokers: kafka.bootstrap, groupId: 'g', topics: ['bin'] },
    output: { format: 'raw', framing: 'length-prefixed' },
    sink: { type: 'file', directory: dir, prefix: 'arch' },
    log: { level: 'silent' }
  })
  await assert.rejects(restore({ config, store, sourceTopic: 'bin', targetTopic: 'bin-restored', range: { kind: 'time' }, idempotent: false }), /does not carry Kafka keys/)
  const stats = await restore({ config, store, sourceTopic: 'bin', targetTopic: 'bin-restored', range: { kind: 'time' }, idempotent: false, valuesOnly: true })
  assert.equal(stats.records, 300)

  const client = new Kafka({ clientId: 'raw-reader', brokers: kafka.bootstrap, logLevel: logLevel.NOTHING })
  const consumer = client.consumer({ groupId: 'raw-reader' })
  await consumer.connect()
  const got: Array<{ partition: number, value: Buffer | null, key: Buffer | null }> = []
  try {
    await consumer.subscribe({ topic: 'bin-restored', fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`only ${got.length} records read`)) }, 60_000)
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.push({ partition, value: message.value, key: message.key })
          if (got.length === 300) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  assert.deepEqual(got.map((g) => g.value), values)
  assert.ok(got.every((g) => g.partition === 1 && g.key === null))
})
