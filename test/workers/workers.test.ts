/**
 * `workers: 2`: two pipelines in worker threads of one service process, each its own group member, sink and S3
 * client, behind one metrics endpoint. End to end through the CLI (mock cluster + s3rver), exactly once; and a
 * SIGKILL of the whole process mid-run, restarted, still exactly once.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { MetricNames as M } from '../../src/ops/metrics.js'
import { cgroupCpuLimit, resolveWorkers } from '../../src/workers/index.js'
import { produceOverTime, summaryLine, sumOffsets, taggedMessages } from '../helpers/chaos.js'
import {
  allCommitted, committedOffsets, readOutput, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig
} from '../helpers/e2e.js'
import { metricsAddress, scrape, sum } from '../ops/helpers.js'

test('workers: 2 runs two group members in one process, one /metrics for both, exactly once', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'w2logs'
  const partitions = 8
  await stack.kafka.createTopic(topic, partitions)
  const messages = sampleMessages({ topic, partitions, count: 20_000, hours: 3, badPerKind: 2, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, messages)

  const config = serviceConfig(stack, topic, 'w2', { upload: { maxFileAgeSeconds: 2 }, metrics: { port: 0, lagIntervalSeconds: 1 } })
  const run = spawnService(t, await writeConfig(stack, 'w2', { ...config, workers: 2 }))
  const base = await metricsAddress(run)
  try {
    await waitFor('all offsets committed', 90_000, async () => await allCommitted(stack, 'w2', topic), 250)
  } catch (err) {
    t.diagnostic(run.output().slice(-6000))
    throw err
  }

  // both workers joined and share the partitions: two assignments in the log add up to all of them
  const ready = await (await fetch(`${base}/readyz`)).json() as { status: string, reason: string, partitions: number }
  assert.equal(ready.status, 'ready', ready.reason)
  assert.equal(ready.partitions, partitions, `the two members hold every partition: ${ready.reason}`)
  const workerLines = run.output().split('\n').filter((l) => l.includes('"worker":'))
  assert.ok(workerLines.some((l) => l.includes('"worker":0')) && workerLines.some((l) => l.includes('"worker":1')), 'both workers log through the one stream')

  // one endpoint: the workers' counters summed, process metrics once. A cut's commit event (and its counters)
  // follows its Kafka commit by the completion of its uploads: wait for the last ones.
  const good = messages.filter((m) => m.id !== undefined).length
  let samples = await scrape(base)
  await waitFor('the last commits counted', 15_000, async () => {
    samples = await scrape(base)
    return sum(samples, M.RECORDS_WRITTEN, { topic, output: 'data' }) >= good
  }, 250)
  // at least every message read, by both workers together (more if the second member's join moved partitions
  // whose uncommitted data was read again); written exactly once
  assert.ok(sum(samples, M.MESSAGES_IN, { topic }) >= messages.length, 'messages in, both workers summed')
  assert.equal(sum(samples, M.RECORDS_WRITTEN, { topic, output: 'data' }), good)
  assert.equal(sum(samples, M.ASSIGNED_PARTITIONS), partitions)
  assert.equal(sum(samples, M.READY), 1, 'ready is 1, not one per worker')
  assert.equal(samples.filter((s) => s.name === 'process_resident_memory_bytes').length, 1)

  run.child.kill('SIGTERM')
  const exit = await run.exited
  assert.equal(exit.code, 0, run.output().slice(-3000))
  const v = verify(messages, await readOutput(stack, 'logs'))
  t.diagnostic(summaryLine('workers: 2', v))
  assert.deepEqual(v.examples, [])
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
  assert.equal(v.found, good)
})

test('workers: 2, the whole process SIGKILLed mid-run and restarted: lost=0 duplicated=0', { timeout: 180_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'w2kill'
  const group = 'w2kill'
  const partitions = 8
  await stack.kafka.createTopic(topic, partitions)
  const first = taggedMessages('a', { topic, partitions, count: 15_000, hours: 2, badPerKind: 1, timestampField: 'ts' })
  const second = taggedMessages('b', { topic, partitions, count: 15_000, hours: 2, badPerKind: 1, timestampField: 'ts' })
  const config = await writeConfig(stack, 'w2kill', {
    ...serviceConfig(stack, topic, group, {
      // a killed member stays in the group until its session times out: keep it short so the restart gets partitions
      kafka: { sessionTimeoutMs: 4000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 8000 },
      upload: { maxFileBytes: 32 * 1024, maxFileAgeSeconds: 1 },
      metrics: { enabled: false }
    }),
    workers: 2
  })

  const producing = produceOverTime(stack.kafka.bootstrap, topic, first, { durationMs: 6000, chunks: 12 })
  const run1 = spawnService(t, config)
  // both workers have committed something, then the whole process dies at once (both members, mid-upload)
  await waitFor('commits from both workers', 60_000, () => {
    const lines = run1.output().split('\n').filter((l) => l.includes('"msg":"committed"'))
    return lines.some((l) => l.includes('"worker":0')) && lines.some((l) => l.includes('"worker":1'))
  }, 100)
  await sleep(300)
  const before = sumOffsets(await committedOffsets(stack, group, topic))
  run1.child.kill('SIGKILL')
  assert.equal((await run1.exited).signal, 'SIGKILL')
  await producing

  const run2 = spawnService(t, config)
  await produceOverTime(stack.kafka.bootstrap, topic, second, { durationMs: 3000, chunks: 6 })
  await waitFor('all offsets committed after the restart', 120_000, async () => await allCommitted(stack, group, topic), 250)
  run2.child.kill('SIGTERM')
  const exit = await run2.exited
  assert.equal(exit.code, 0, run2.output().slice(-3000))

  const v = verify([...first, ...second], await readOutput(stack, 'logs'))
  t.diagnostic(summaryLine(`SIGKILL with workers: 2 after ${before} committed offsets`, v))
  assert.ok(before > 0, 'the killed run had committed something')
  assert.deepEqual(v.examples, [])
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
})

test('workers: auto is bounded by the cgroup CPU quota', () => {
  assert.equal(cgroupCpuLimit((f) => f.endsWith('cpu.max') ? '150000 100000\n' : undefined), 2)
  assert.equal(cgroupCpuLimit((f) => f.endsWith('cpu.max') ? 'max 100000\n' : undefined), undefined)
  assert.equal(cgroupCpuLimit((f) => f.endsWith('cfs_quota_us') ? '50000' : f.endsWith('cfs_period_us') ? '100000' : undefined), 1)
  assert.equal(cgroupCpuLimit(() => undefined), undefined)
  assert.equal(resolveWorkers(undefined), 1)
  assert.equal(resolveWorkers(3), 3)
  assert.ok(resolveWorkers('auto') >= 1)
})
