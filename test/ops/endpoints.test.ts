import assert from 'node:assert/strict'
import { test } from 'node:test'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { MetricNames as M } from '../../src/ops/metrics.js'
import { allCommitted, serviceConfig, spawnService, startStack, waitFor, writeConfig } from '../helpers/e2e.js'
import { metricsAddress, scrape, series, sum } from './helpers.js'

/** The real service (CLI child process) with `metrics.port: 0`: /metrics, /healthz and /readyz over HTTP. */
test('/metrics, /healthz and /readyz of a running service: counts match what was produced, lag ends at 0', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'ops'
  const partitions = 4
  await stack.kafka.createTopic(topic, partitions)
  const messages = sampleMessages({ topic, partitions, count: 2000, hours: 2, badPerKind: 2, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, messages)

  const config = serviceConfig(stack, topic, 'ops-endpoints', {
    upload: { maxFileAgeSeconds: 2 },
    metrics: { port: 0, lagIntervalSeconds: 1 }
  })
  const run = spawnService(t, await writeConfig(stack, 'ops', config))
  const base = await metricsAddress(run)
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'bound to loopback on the port the OS picked')

  const health = await fetch(`${base}/healthz`)
  assert.equal(health.status, 200)
  assert.equal(await health.text(), 'ok\n')

  let ready: { status: string, reason: string, partitions?: number } | undefined
  await waitFor('/readyz 200', 30_000, async () => {
    const res = await fetch(`${base}/readyz`)
    ready = await res.json() as typeof ready
    assert.equal(res.status === 200, ready?.status === 'ready')
    return res.status === 200
  })
  assert.deepEqual(ready, { status: 'ready', ready: true, reason: `consuming ${partitions} partitions`, partitions })

  await waitFor('all offsets committed', 40_000, async () => await allCommitted(stack, 'ops-endpoints', topic), 250)
  // the lag monitor reads Kafka every second: wait for it to see the last commits
  let samples = await scrape(base)
  await waitFor('lag 0 on every partition', 10_000, async () => {
    samples = await scrape(base)
    const lag = series(samples, M.LAG_OFFSETS)
    return lag.length === partitions && lag.every((s) => s.value === 0)
  }, 250)

  const good = messages.filter((m) => m.id !== undefined).length
  const bad = messages.length - good
  assert.equal(sum(samples, M.MESSAGES_IN, { topic }), messages.length, 'messages in = produced')
  assert.equal(sum(samples, M.BYTES_IN, { topic }), messages.reduce((n, m) => n + (m.value?.length ?? 0), 0))
  assert.equal(sum(samples, M.RECORDS_WRITTEN, { topic, output: 'data' }), good)
  assert.equal(sum(samples, M.RECORDS_WRITTEN, { topic, output: 'errors' }), bad)
  assert.equal(sum(samples, M.BAD_RECORDS, { topic }), bad)
  // two of each sample kind: not-json, truncated-json, invalid-utf8, missing-timestamp, non-numeric and negative
  // timestamps (both invalid_timestamp), json-array
  const byReason = Object.fromEntries(series(samples, M.BAD_RECORDS).map((s) => [s.labels.reason, s.value]))
  assert.deepEqual(byReason, { not_json: 2, truncated_json: 2, invalid_utf8: 2, missing_timestamp: 2, invalid_timestamp: 4, not_object: 2 })
  const lagSeconds = series(samples, M.LAG_SECONDS)
  assert.equal(lagSeconds.length, partitions)
  assert.ok(lagSeconds.every((s) => s.value === 0), 'lag in seconds is 0 once everything is committed')
  const commits = sum(samples, M.COMMITS, { topic })
  assert.ok(commits >= partitions, `at least one commit per partition, got ${commits}`)
  assert.equal(sum(samples, `${M.CUT_TO_COMMIT}_count`), commits, 'one cut-to-commit observation per commit')
  assert.ok(sum(samples, `${M.CUT_TO_COMMIT}_sum`) > 0)
  assert.ok(sum(samples, M.FILES_WRITTEN) >= commits)
  assert.ok(sum(samples, M.BYTES_WRITTEN) > 0)
  assert.ok(sum(samples, M.UPLOADS_STARTED, { op: 'part' }) >= sum(samples, M.FILES_WRITTEN))
  assert.equal(sum(samples, M.UPLOADS_STARTED, { op: 'complete' }), sum(samples, M.FILES_WRITTEN))
  assert.equal(sum(samples, M.UPLOADS_FAILED), 0)
  assert.equal(sum(samples, M.OPEN_FILES), 0)
  assert.equal(sum(samples, M.BUFFERED_BYTES), 0)
  assert.equal(sum(samples, M.ASSIGNED_PARTITIONS), partitions)
  assert.ok(sum(samples, M.REBALANCES) >= 1)
  assert.equal(sum(samples, M.READY), 1)
  assert.equal(sum(samples, M.PIPELINE_RESTARTS), 0)
  assert.ok(sum(samples, 'process_resident_memory_bytes') > 0, 'process metrics are included')

  const metricsRes = await fetch(`${base}/metrics`)
  assert.match(metricsRes.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  assert.match(await metricsRes.text(), new RegExp(`# HELP ${M.LAG_OFFSETS} `))
  assert.equal((await fetch(`${base}/nope`)).status, 404)
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405)

  run.child.kill('SIGTERM')
  assert.deepEqual(await run.exited, { code: 0, signal: null })
  await assert.rejects(fetch(`${base}/healthz`), 'the server is gone with the process')
})
