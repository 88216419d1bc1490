import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from '../src/logger.js'
import { validateConfig } from '../src/config/options.js'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { runService } from '../src/service.js'
import type { ObjectSink } from '../src/sinks/object-sink.js'
import {
  allCommitted, committedOffsets, endOffsets, readOutput, serviceConfig, startStack, verify, waitFor
} from './helpers/e2e.js'

test('end to end: 50,000 messages over 8 partitions and 7 hours, plus every kind of bad message, land exactly once', { timeout: 240_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'weblogs'
  await stack.kafka.createTopic(topic, 8)
  const messages = sampleMessages({ topic, partitions: 8, count: 50_000, hours: 7, badPerKind: 3, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, messages)

  const config = validateConfig(serviceConfig(stack, topic, 'e2e', { log: { level: 'warn' } }))
  const controller = new AbortController()
  const sinks: ObjectSink[] = []
  const service = runService(config, {
    logger: createLogger({ level: 'warn' }),
    signal: controller.signal,
    onPipeline: ({ sink }) => { sinks.push(sink) }
  })
  try {
    await waitFor('all offsets committed', 180_000, async () => await allCommitted(stack, 'e2e', topic), 500)
  } finally {
    controller.abort()
  }
  const stats = await service
  assert.equal(stats.recordsCommitted, 50_021)
  assert.equal(stats.errorRecordsCommitted, 21, 'bad records are counted')

  const output = await readOutput(stack, 'logs')
  const v = verify(messages, output)
  t.diagnostic(`produced ${v.produced} good + ${v.badProduced} bad; found ${v.found} + ${v.badFound}; lost ${v.lost}/${v.badLost}; duplicated ${v.duplicated}/${v.badDuplicated}; misplaced ${v.misplaced}; objects ${output.objects.length}`)
  assert.deepEqual(v.examples, [])
  assert.equal(v.found, 50_000)
  assert.equal(v.badFound, 21)
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)

  // every kind of bad message is in _errors with a reason, in an hour directory of its Kafka timestamp
  const reasons = output.badRecords.map((r) => String(r.reason))
  for (const word of ['JSON', 'UTF-8', 'missing', 'non-numeric', 'negative']) {
    assert.ok(reasons.some((r) => r.includes(word)), `a reason mentions ${word}: ${[...new Set(reasons)].join(' | ')}`)
  }
  assert.ok(output.objects.some((k) => k.startsWith('logs/_errors/weblogs/dt=2026-11-20/hr=')))
  assert.ok(output.badRecords.some((r) => typeof r.valueBase64 === 'string'), 'invalid UTF-8 kept as base64')

  // committed offsets equal the end offsets
  const [committed, end] = await Promise.all([committedOffsets(stack, 'e2e', topic), endOffsets(stack, topic)])
  assert.deepEqual([...committed].sort(), [...end].sort())
  // eight partitions, seven hours of dt/hr directories
  const hours = new Set(output.objects.filter((k) => !k.includes('_errors')).map((k) => k.split('/').slice(2, 4).join('/')))
  assert.equal(hours.size, 7)
})
