import assert from 'node:assert/strict'
import { test } from 'node:test'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { MetricNames as M } from '../../src/ops/metrics.js'
import { S3FaultProxy } from '../../src/testing/s3-fault-proxy.js'
import { allCommitted, serviceConfig, spawnService, startStack, waitFor, writeConfig } from '../helpers/e2e.js'
import { metricsAddress, scrape, sum } from './helpers.js'

interface Ready { status: string, reason: string }

/**
 * /readyz through a service's life: 503 before the consumer joins, 200 once it has, 503 while every upload fails
 * (S3 answering 503 SlowDown through a fault proxy) for longer than metrics.readyzUploadFailureSeconds, 200 again
 * when S3 recovers, 503 while shutting down.
 */
test('/readyz: not joined, ready, failing uploads, recovered', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const proxy = await S3FaultProxy.start({ target: stack.s3.endpoint })
  t.after(async () => { await proxy.stop() })
  const topic = 'ready'
  const group = 'ops-readiness'
  await stack.kafka.createTopic(topic, 2)
  const day = Date.UTC(2026, 10, 20)
  await produce(stack.kafka.bootstrap, topic, sampleMessages({ topic, partitions: 2, count: 500, hours: 1, startMs: day, timestampField: 'ts' }))

  const config = serviceConfig(stack, topic, group, {
    upload: { maxFileAgeSeconds: 1 },
    sink: { endpoint: proxy.endpoint },
    metrics: { port: 0, lagIntervalSeconds: 1, readyzUploadFailureSeconds: 2 }
  })
  const run = spawnService(t, await writeConfig(stack, 'ready', config))
  const base = await metricsAddress(run)
  const readyz = async (): Promise<{ code: number, body: Ready }> => {
    const res = await fetch(`${base}/readyz`)
    return { code: res.status, body: await res.json() as Ready }
  }

  const first = await readyz()
  t.diagnostic(`first /readyz: ${first.code} ${first.body.reason}`)
  assert.deepEqual(first, { code: 503, body: { status: 'not ready', ready: false, reason: 'the Kafka consumer has not joined the group yet' } })
  await waitFor('ready', 30_000, async () => (await readyz()).code === 200, 100)
  await waitFor('the first data committed', 20_000, async () => await allCommitted(stack, group, topic), 250)

  // S3 fails every request; new data keeps the sink uploading (and retrying).
  await proxy.setMode({ mode: 'error', status: 503, code: 'SlowDown' })
  const failingFrom = Date.now()
  await produce(stack.kafka.bootstrap, topic, sampleMessages({ topic, partitions: 2, count: 500, hours: 1, startMs: day + 3600_000, timestampField: 'ts' }))
  let failing: { code: number, body: Ready } | undefined
  await waitFor('/readyz 503 for failing uploads', 30_000, async () => {
    failing = await readyz()
    return failing.code === 503
  }, 200)
  const after = (Date.now() - failingFrom) / 1000
  t.diagnostic(`not ready ${after.toFixed(1)} s after S3 began failing: ${failing?.body.reason ?? ''}`)
  assert.match(failing?.body.reason ?? '', /^uploads have been failing for \d+ s: /)
  assert.ok(after >= 2, 'not before the threshold')
  let samples = await scrape(base)
  assert.ok(sum(samples, M.UPLOADS_FAILED) > 0)
  assert.equal(sum(samples, M.READY), 0)
  const committedBefore = sum(samples, M.RECORDS_WRITTEN)

  await proxy.setMode('pass')
  await waitFor('ready again', 30_000, async () => (await readyz()).code === 200, 200)
  await waitFor('everything committed', 30_000, async () => await allCommitted(stack, group, topic), 250)
  await waitFor('records of the failing window written', 5000, async () => {
    samples = await scrape(base)
    return sum(samples, M.RECORDS_WRITTEN) === 1000
  }, 200)
  assert.ok(committedBefore < 1000)
  assert.ok(sum(samples, M.UPLOADS_RETRIED) > 0, 'failed uploads were retried')
  assert.ok(sum(samples, M.UPLOADS_RETRIED) <= sum(samples, M.UPLOADS_FAILED))
  assert.equal(sum(samples, M.READY), 1)

  // SIGTERM: not ready while it flushes and leaves the group
  run.child.kill('SIGTERM')
  let stopping: { code: number, body: Ready } | undefined
  await waitFor('/readyz 503 (or gone)', 10_000, async () => {
    stopping = await readyz().catch(() => undefined)
    return stopping === undefined || stopping.code !== 200
  }, 20)
  if (stopping !== undefined) assert.deepEqual(stopping, { code: 503, body: { status: 'not ready', ready: false, reason: 'shutting down' } })
  t.diagnostic(`after SIGTERM: ${stopping === undefined ? 'server already gone' : stopping.body.reason}`)
  assert.equal((await run.exited).code, 0)
})
