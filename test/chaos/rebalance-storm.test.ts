/**
 * A group that rebalances more often than maxFileAgeSeconds (a crash-looping pod, a flapping autoscaler) must
 * still commit. One service process consumes; a second member (a bare kafkajs consumer that never commits, like a
 * pod that dies before its first cut) joins and leaves the group again and again, every rejoin well inside the
 * age limit, while records keep arriving. The service keeps the open files of the partitions it still holds
 * across each rejoin, so their age cuts commit; when the storm ends every record is in the bucket exactly once.
 *
 *   SEDIMENT_TEST_DEBUG  dump the service's output to /tmp/rebalance-storm.log (also done on failure)
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Kafka, logLevel } from 'kafkajs'
import { sampleMessages } from '../../src/demo/sample-data.js'
import { produceOverTime, summaryLine } from '../helpers/chaos.js'
import { commitsOf } from '../helpers/service-log.js'
import { allCommitted, readOutput, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig } from '../helpers/e2e.js'

const PARTITIONS = 4
const MESSAGES = 6000
const STORM_MS = 36_000
const MAX_FILE_AGE_S = 8
// The mock takes about sessionTimeout - 1 s to complete each rebalance; the member rejoins every ~5 s.
const SESSION_MS = 3000
const STAY_MS = 3000

test('rebalance storm: a member joining and leaving every few seconds (< maxFileAgeSeconds) does not starve commits; exactly once', { timeout: 180_000 }, async (t) => {
  const started = Date.now()
  const phase = (what: string): void => { t.diagnostic(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`) }
  const stack = await startStack(t)
  const topic = 'stormlogs'
  const group = 'storm'
  await stack.kafka.createTopic(topic, PARTITIONS)
  const messages = sampleMessages({ topic, partitions: PARTITIONS, count: MESSAGES, hours: 2, badPerKind: 1 })
  const config = await writeConfig(stack, 'storm', serviceConfig(stack, topic, group, {
    kafka: { sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 8000 },
    // only age cuts: size never triggers within the test's data
    upload: { maxFileBytes: 64 * 1024 * 1024, maxFileAgeSeconds: MAX_FILE_AGE_S },
    log: { level: 'info' }
  }))
  const service = spawnService(t, config)
  let passed = false
  t.after(() => {
    if (passed && process.env.SEDIMENT_TEST_DEBUG === undefined) return
    writeFileSync('/tmp/rebalance-storm.log', service.output())
    t.diagnostic('service output in /tmp/rebalance-storm.log')
  })
  await waitFor('the service joins', 30_000, () => service.output().includes('"msg":"partitions assigned"'))
  const producing = produceOverTime(stack.kafka.bootstrap, topic, messages, { durationMs: STORM_MS, chunks: 72 })

  // The flapping member: joins (the group rebalances), stays a moment, leaves (it rebalances again).
  const kafka = new Kafka({ clientId: 'flapper', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING })
  const stormStart = Date.now()
  let joins = 0
  while (Date.now() - stormStart < STORM_MS) {
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: SESSION_MS, heartbeatInterval: 500, rebalanceTimeout: 8000, retry: { retries: 2 } })
    let joined = false
    let crashed = false
    consumer.on(consumer.events.GROUP_JOIN, () => { joined = true })
    // the mock refuses a late follower's SyncGroup (see service-log.ts): that member just counts as gone
    consumer.on(consumer.events.CRASH, () => { crashed = true })
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      // holds its partitions without processing or committing anything
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} })
      await waitFor('the flapping member joins', 10_000, () => joined || crashed, 100).catch(() => {})
      if (joined) joins++
      await sleep(STAY_MS)
    } finally {
      await Promise.race([consumer.disconnect().catch(() => {}), sleep(5000)])
    }
    await sleep(STAY_MS)
  }
  const stormEnd = Date.now()
  const during = commitsOf(service).filter((c) => c.time > stormStart && c.time <= stormEnd)
  const rejoins = service.output().split('\n').filter((l) => l.includes('"component":"sink"') && l.includes('"msg":"assignment"'))
    .map((l) => Number((JSON.parse(l) as { time: number }).time)).filter((time) => time > stormStart && time <= stormEnd).length
  phase(`storm over: ${joins} joins and leaves (${rejoins} rejoins of the service) in ${((stormEnd - stormStart) / 1000).toFixed(0)} s; the service committed ${during.length} cuts meanwhile (partitions ${[...new Set(during.map((c) => c.partition))].sort().join(',')})`)
  assert.ok(service.child.exitCode === null, `the service is still running: ${service.output().slice(-2000)}`)
  assert.ok(rejoins > (stormEnd - stormStart) / 1000 / MAX_FILE_AGE_S, `${rejoins} rejoins: the storm must rebalance more often than the age limit`)
  // Before open files survived a rejoin, nothing could reach its age: no commit at all during the storm.
  assert.ok(during.length > 0, 'commits happen while the group keeps rebalancing')

  await producing
  await waitFor('everything committed', 90_000, async () => await allCommitted(stack, group, topic), 500)
  service.child.kill('SIGTERM')
  const exit = await service.exited
  assert.equal(exit.code, 0, `exits 0 on SIGTERM; output tail: ${service.output().slice(-3000)}`)
  const v = verify(messages, await readOutput(stack, 'logs'))
  t.diagnostic(summaryLine('rebalance-storm', v, ` commitsDuringStorm=${during.length} rejoins=${rejoins}`))
  assert.equal(v.lost, 0, v.examples.join('; '))
  assert.equal(v.duplicated, 0, v.examples.join('; '))
  assert.equal(v.badLost + v.badDuplicated, 0, v.examples.join('; '))
  assert.equal(v.misplaced, 0, v.examples.join('; '))
  passed = true
})
