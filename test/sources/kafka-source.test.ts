import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import pino from 'pino'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { KafkaSource } from '../../src/sources/kafka-source.js'
import { parseStage } from '../../src/stages/parse.js'
import type { PipelineItem } from '../../src/types.js'
import { startStack } from '../helpers/e2e.js'

const logger = pino({ level: 'silent' })

test('backpressure: with a slow sink the source holds the consumer and memory stays bounded', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'slow'
  await stack.kafka.createTopic(topic, 4)
  // ~24 MB of values: far more than the pipeline may hold at once
  const messages = sampleMessages({ topic, partitions: 4, count: 6000, hours: 1 }).map((m) => ({ ...m, value: Buffer.concat([m.value as Buffer, Buffer.alloc(4000, 32)]) }))
  await produce(stack.kafka.bootstrap, topic, messages, { batchSize: 200 })

  const source = new KafkaSource({ brokers: stack.kafka.bootstrap, groupId: 'bp', topics: [topic], logger, sessionTimeoutMs: 6000, heartbeatIntervalMs: 300, maxBytesPerPartition: 256 * 1024 })
  let received = 0
  let receivedBytes = 0
  let peakRss = 0
  const baseline = process.memoryUsage().rss
  const slowSink = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write (item: PipelineItem, _enc, callback) {
      if (item.kind === 'parsed') {
        received += item.good.length + item.bad.length
        receivedBytes += item.rawBytes
      }
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      setTimeout(callback, 150) // a sink that is much slower than the broker
    }
  })
  const done = pipeline(source, parseStage({ type: 'json', timestampField: 'ts', highWaterMark: 1 }), slowSink)
  await source.start()
  await sleep(6000)
  const heldAt = received
  // The consumer was held: it paused, and it has not raced ahead of the sink (a few fetches at most in flight).
  assert.ok(source.pauses > 0, 'source paused for backpressure')
  assert.ok(heldAt < messages.length / 2, `received only ${heldAt} of ${messages.length} while the sink is slow`)
  // It keeps heartbeating while held: still a member, still making progress.
  await sleep(8000)
  assert.ok(received > heldAt, 'progress continues while held (no rebalance stall)')
  source.endInput()
  await done
  await source.close()
  const growthMb = (peakRss - baseline) / 1024 / 1024
  t.diagnostic(`received ${received} records (${(receivedBytes / 1e6).toFixed(1)} MB) with ${source.pauses} pauses; RSS growth ${growthMb.toFixed(1)} MB`)
  assert.ok(growthMb < 80, `RSS grew ${growthMb.toFixed(1)} MB`)
})
