import assert from 'node:assert/strict'
import { test } from 'node:test'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { S3FaultProxy } from '../src/testing/s3-fault-proxy.js'
import { allCommitted, serviceConfig, spawnService, startStack, waitFor, writeConfig } from './helpers/e2e.js'

// Issue 10, item 8: no retry loop or wait outlives a shutdown, whatever the store answers.
test('SIGTERM ends within upload.shutdownGraceSeconds even when S3 never answers the final cut', { timeout: 150_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'grace'
  const group = 'grace'
  await stack.kafka.createTopic(topic, 1)
  const proxy = await S3FaultProxy.start({ target: stack.s3.endpoint })
  t.after(() => proxy.stop())
  await produce(stack.kafka.bootstrap, topic, sampleMessages({ topic, partitions: 1, count: 200, hours: 1 }))
  const config = await writeConfig(stack, 'grace', serviceConfig(stack, topic, group, {
    upload: { maxFileAgeSeconds: 1, shutdownGraceSeconds: 3 },
    sink: { endpoint: proxy.endpoint, socketTimeoutMs: 600_000 }
  }))
  const service = spawnService(t, config)
  await waitFor('the first batch committed', 60_000, async () => await allCommitted(stack, group, topic), 500)
  // From now on S3 reads every request and never answers; the next cut hangs in its uploads.
  await proxy.setMode({ mode: 'stall' })
  await produce(stack.kafka.bootstrap, topic, sampleMessages({ topic, partitions: 1, count: 200, hours: 1 }))
  await waitFor('a request stalled', 30_000, () => proxy.stats().stalled > 0, 100)
  const stoppedAt = Date.now()
  service.child.kill('SIGTERM')
  const exited = await Promise.race([service.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))])
  const took = Date.now() - stoppedAt
  assert.ok(exited !== null, `still running ${took} ms after SIGTERM (grace period 3 s)\n${service.output().slice(-3000)}`)
  assert.equal(exited.code, 0)
  assert.ok(took < 3000 + 12_000, `exited ${took} ms after SIGTERM`)
  assert.match(service.output(), /shutdown grace period over/)
})
