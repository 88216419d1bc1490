import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import type { Batch } from 'kafkajs'
import { validateConfig } from '../../src/config/options.js'
import { toRecordBatch } from '../../src/sources/kafka-source.js'

// kafkajs' own Batch class (what eachBatch receives), built from fetch-response partition data: the librdkafka
// mock cluster writes no transaction markers (EndTxn leaves the log alone), so no fetch from it contains one.
const require = createRequire(import.meta.url)
const KafkaBatch = require('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, data: unknown) => Batch

function message (offset: number, control = false): Record<string, unknown> {
  return { offset: String(offset), key: null, value: control ? Buffer.from([0, 0, 0, 1]) : Buffer.from(`{"n":${offset}}`), timestamp: '1795000000000', headers: {}, isControlRecord: control }
}

test('a fetch ending in a transaction marker: the batch ends past the marker (so a commit can reach the end)', () => {
  // a committed transaction: data at 10..12, its COMMIT marker at 13; high watermark 14
  const batch = new KafkaBatch('tx', '10', {
    partition: 0, highWatermark: '14', abortedTransactions: [],
    messages: [message(10), message(11), message(12), message(13, true)]
  })
  const out = toRecordBatch(batch, 1, undefined)
  assert.deepEqual(out?.records.map((r) => r.offset), [10, 11, 12], 'the marker is not a record')
  assert.equal(out?.firstOffset, 10)
  assert.equal(out?.nextOffset, 14, 'next offset is past the marker: committed offset == high watermark when idle')
})

test('a fetch that stops inside a transaction covers only what it returned', () => {
  const batch = new KafkaBatch('tx', '10', {
    partition: 0, highWatermark: '20', abortedTransactions: [],
    messages: [message(10), message(11)]
  })
  assert.equal(toRecordBatch(batch, 1, undefined)?.nextOffset, 12)
  // already-handled records are skipped, the end stays the fetch's end
  const again = new KafkaBatch('tx', '10', {
    partition: 0, highWatermark: '20', abortedTransactions: [],
    messages: [message(10), message(11), message(12, true)]
  })
  const out = toRecordBatch(again, 1, 11)
  assert.deepEqual(out?.records.map((r) => r.offset), [11])
  assert.equal(out?.nextOffset, 13)
})

test('kafka.isolationLevel: read_committed by default, read_uncommitted accepted, anything else refused', () => {
  const base = { kafka: { brokers: ['127.0.0.1:9092'], groupId: 'g', topics: ['t'] }, sink: { type: 'file', directory: '/tmp/x' } }
  assert.equal(validateConfig(base).kafka.isolationLevel, 'read_committed')
  assert.equal(validateConfig({ ...base, kafka: { ...base.kafka, isolationLevel: 'read_uncommitted' } }).kafka.isolationLevel, 'read_uncommitted')
  assert.throws(() => validateConfig({ ...base, kafka: { ...base.kafka, isolationLevel: 'committed' } }), /kafka\.isolationLevel/)
})
