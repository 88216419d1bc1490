import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import { validateConfig } from '../src/config/options.js'
import { ConfigError } from '../src/errors.js'
import { createLogger } from '../src/logger.js'
import { runService } from '../src/service.js'
import { dataObjects, serviceConfig, startStack } from './helpers/e2e.js'

// Issue 10, item 11: a topic named `_errors` would write its data among the error output of every topic. Listing
// it is a config error (test/config/stage-options.test.ts); a topicPattern that matches it stops the service
// with a clear ConfigError before anything of it is written, instead of a silent collision or a restart loop.
test('a topicPattern matching a topic named _errors stops the service with a clear error; nothing is written', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const producer = new Kafka({ clientId: 'reserved-e2e', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  for (const topic of ['_errors', 'events']) {
    await stack.kafka.createTopic(topic, 1)
    await producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify({ ts: Date.UTC(2026, 10, 20, 7), n: 1 }) }] })
  }
  await producer.disconnect()
  const config = validateConfig(serviceConfig(stack, 'events', 'g-reserved', {
    kafka: { topics: undefined, topicPattern: '^(_errors|events)$' },
    upload: { maxFileAgeSeconds: 1 },
    metrics: { enabled: false },
    log: { level: 'silent' }
  }))
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort() }, 40_000)
  t.after(() => { clearTimeout(timer); controller.abort() })
  await assert.rejects(runService(config, { logger: createLogger({ level: 'silent' }), signal: controller.signal }), (err: unknown) =>
    err instanceof ConfigError && /topic "_errors" cannot be archived/.test(err.message))
  assert.equal(controller.signal.aborted, false, 'stopped by the error, not by the test timeout')
  assert.deepEqual((await dataObjects(stack, 'logs')).map(o => o.key).filter(k => k.startsWith('logs/_errors/dt=')), [])
})
