import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from '../src/logger.js'
import { validateConfig } from '../src/config/options.js'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { runService } from '../src/service.js'
import type { KafkaSource } from '../src/sources/kafka-source.js'
import { allCommitted, readOutput, serviceConfig, startStack, verify, waitFor } from './helpers/e2e.js'

test('topicPattern: a topic created while running is picked up without a restart, and nothing is lost or duplicated', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  await stack.kafka.createTopic('app.orders', 2)
  await stack.kafka.createTopic('other', 1) // does not match: never consumed
  const first = sampleMessages({ topic: 'app.orders', partitions: 2, count: 2_000, hours: 2, badPerKind: 0, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, 'app.orders', first)

  const raw = serviceConfig(stack, 'unused', 'discovery', { log: { level: 'info' } })
  const kafka = raw.kafka as Record<string, unknown>
  delete kafka.topics
  kafka.topicPattern = '^app\\.'
  kafka.topicRefreshSeconds = 1
  const config = validateConfig(raw)
  const controller = new AbortController()
  const sources: KafkaSource[] = []
  const service = runService(config, { logger: createLogger({ level: process.env.DEBUG_LOG === '1' ? 'info' : 'warn' }), signal: controller.signal, onPipeline: ({ source }) => { sources.push(source) } })
  try {
    await waitFor('first topic committed', 60_000, async () => await allCommitted(stack, 'discovery', 'app.orders'), 300)
    assert.equal(sources.length, 1)

    await stack.kafka.createTopic('app.refunds', 3)
    const second = sampleMessages({ topic: 'app.refunds', partitions: 3, count: 1_500, hours: 1, badPerKind: 0, timestampField: 'ts' })
    await produce(stack.kafka.bootstrap, 'app.refunds', second)
    await waitFor('new topic committed', 60_000, async () => await allCommitted(stack, 'discovery', 'app.refunds'), 300)
    assert.equal(sources[0]?.topicsChanged, true, 'the first source ended because a new topic matched')
    assert.equal(sources.length, 2, 'one in-process restart of the pipeline, not of the service')

    const output = await readOutput(stack, 'logs')
    for (const [name, messages] of [['app.orders', first], ['app.refunds', second]] as const) {
      // Sample ids repeat across topics: judge each topic by its own directories.
      const good = new Map([...output.good]
        .map(([id, dirs]) => [id, dirs.filter(d => d.startsWith(`${name}/`))] as const)
        .filter(([, dirs]) => dirs.length > 0))
      const v = verify(messages, { ...output, good })
      t.diagnostic(`${name}: produced ${v.produced}, found ${v.found}, lost ${v.lost}, duplicated ${v.duplicated}, misplaced ${v.misplaced}`)
      if (v.examples.length > 0) t.diagnostic(v.examples.join('; ') + ' objects: ' + output.objects.filter(k => k.includes(name)).join(' '))
      assert.equal(v.found, messages.length)
      assert.equal(v.lost + v.duplicated + v.misplaced, 0)
    }
    assert.ok(!output.objects.some(k => k.startsWith('logs/other/')), 'a topic that does not match is not consumed')
  } finally {
    controller.abort()
    await service
  }
})
