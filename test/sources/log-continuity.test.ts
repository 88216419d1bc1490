import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { test, type TestContext } from 'node:test'
import pino, { type Logger } from 'pino'
import { validateConfig } from '../../src/config/options.js'
import type { SedimentConfig } from '../../src/config/types.js'
import { produce, type SampleMessage } from '../../src/demo/sample-data.js'
import { MetricNames as M } from '../../src/ops/metrics.js'
import { createStore, runService } from '../../src/service.js'
import { manifestPrefix, type CutRecord } from '../../src/sinks/layout.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'
import { KafkaSource } from '../../src/sources/kafka-source.js'
import { checkStart, expiredBetween, type SkippedEvent } from '../../src/sources/log-continuity.js'
import type { AssignmentEvent, PipelineItem, RecordBatch } from '../../src/types.js'
import { connectKafkaOffsets } from '../../src/verify/kafka-offsets.js'
import { verifyOutput } from '../../src/verify/verify.js'
import { committedOffsets, endOffsets, readOutput, serviceConfig, startStack, waitFor, type Stack } from '../helpers/e2e.js'
import { scrape, sum } from '../ops/helpers.js'

test('checkStart: new log above the high watermark, expired below the log start, otherwise ok', () => {
  assert.deepEqual(checkStart(null, { low: 5, high: 10 }), { kind: 'ok' })
  assert.deepEqual(checkStart(10, { low: 5, high: 10 }), { kind: 'ok' })
  assert.deepEqual(checkStart(5, { low: 5, high: 10 }), { kind: 'ok' })
  assert.deepEqual(checkStart(11, { low: 0, high: 10 }), { kind: 'new-log', start: 11, high: 10 })
  assert.deepEqual(checkStart(3, { low: 5, high: 10 }), { kind: 'expired', skipped: { from: 3, to: 5 } })
  // only what lies below the log start is retention's; holes above it are compaction or transaction markers
  assert.deepEqual(expiredBetween(3, 9, 5), { from: 3, to: 5 })
  assert.equal(expiredBetween(6, 9, 5), null)
})

const T0 = Date.UTC(2026, 10, 20, 3, 0, 0)

function messages (from: number, count: number, padBytes = 0): SampleMessage[] {
  const pad = 'x'.repeat(padBytes)
  return Array.from({ length: count }, (_, i) => {
    const id = `m${from + i}`
    return { partition: 0, id, timestamp: T0, value: Buffer.from(JSON.stringify({ id, ts: T0 + i, pad })) } as SampleMessage
  })
}

/** A logger whose JSON lines the test can read. */
function capture (): { logger: Logger, lines: () => Array<Record<string, unknown>> } {
  const out: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') out.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    }
  })
  return { logger: pino({ level: 'info' }, stream), lines: () => out }
}

/** Runs the service until the group's offset reaches the partition's end; returns a /metrics scrape and the logs. */
async function runUntilCaughtUp (stack: Stack, config: SedimentConfig, topic: string, groupId: string, until?: (logs: Array<Record<string, unknown>>) => boolean) {
  const log = capture()
  const controller = new AbortController()
  const service = runService(config, { logger: log.logger, signal: controller.signal })
  let samples
  try {
    await waitFor('metrics address', 20_000, () => log.lines().some((l) => l.msg === 'metrics server listening'), 100)
    const base = String(log.lines().find((l) => l.msg === 'metrics server listening')?.address)
    await waitFor('caught up', 40_000, until !== undefined ? () => until(log.lines()) : async () => {
      const [c, e] = await Promise.all([committedOffsets(stack, groupId, topic), endOffsets(stack, topic)])
      return c.get(0) === e.get(0)
    }, 300)
    samples = await scrape(base)
  } finally {
    controller.abort()
    await service
  }
  return { samples, logs: log.lines() }
}

/** The S3 client decorates the credentials object it was given (`$source`); the config wants the plain keys. */
function credentials (stack: Stack): Record<string, unknown> {
  const c = stack.s3.clientConfig.credentials as { accessKeyId: string, secretAccessKey: string }
  return { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } }
}

function testConfig (stack: Stack, topic: string, groupId: string, kafka: Record<string, unknown> = {}): SedimentConfig {
  return validateConfig(serviceConfig(stack, topic, groupId, {
    kafka,
    sink: credentials(stack),
    upload: { maxFileBytes: 4 * 1024 * 1024, maxFileAgeSeconds: 1 },
    metrics: { port: 0, lagIntervalSeconds: 1 },
    log: { level: 'info' }
  }))
}

async function manifests (config: SedimentConfig, topic: string): Promise<CutRecord[]> {
  const store = createStore(config)
  const out: CutRecord[] = []
  for await (const { key } of store.list(`${manifestPrefix(config.sink.prefix, topic)}0/`)) {
    out.push(JSON.parse(((await store.get(key)) as Buffer).toString('utf8')) as CutRecord)
  }
  return out.sort((a, b) => a.startOffset - b.startOffset)
}

for (const autoOffsetReset of ['earliest', 'latest'] as const) {
  test(`retention deletes offsets the group had not archived: counted, logged, recorded in the manifest, reported by verify (autoOffsetReset ${autoOffsetReset})`, { timeout: 120_000 }, async (t) => {
    await expiredRun(t, autoOffsetReset)
  })
}

async function expiredRun (t: TestContext, autoOffsetReset: 'earliest' | 'latest'): Promise<void> {
  const stack = await startStack(t)
  const topic = 'expiring'
  const groupId = 'retention'
  await stack.kafka.createTopic(topic, 1)
  // 'latest' applies only to a partition that never had an offset: an out-of-range commit resumes at the log start
  const config = testConfig(stack, topic, groupId, { autoOffsetReset })

  await produce(stack.kafka.bootstrap, topic, messages(0, 100))
  await runUntilCaughtUp(stack, testConfig(stack, topic, groupId), topic, groupId)
  assert.equal((await committedOffsets(stack, groupId, topic)).get(0), 100)

  // While the service is down, ~8 MiB arrive: the mock keeps ~5 MiB per partition, so the log start moves past
  // the committed offset (100) and some of the new records are gone before anyone read them.
  await produce(stack.kafka.bootstrap, topic, messages(100, 800, 10_000), { batchSize: 50 })
  const kafka = connectKafkaOffsets(config.kafka)
  const low = (await kafka.watermarks(topic)).get(0)?.low ?? 0
  await kafka.close()
  assert.ok(low > 100, `log start ${low} is beyond the committed offset`)

  const { samples, logs } = await runUntilCaughtUp(stack, config, topic, groupId)
  const lost = low - 100
  t.diagnostic(`log start ${low}: ${lost} offsets expired before they were archived`)
  assert.equal(sum(samples ?? [], M.OFFSETS_EXPIRED, { topic, partition: '0' }), lost, 'metric counts the expired offsets')
  assert.ok(logs.some((l) => l.level === 50 && l.from === 100 && l.to === low), 'an error log names the range')

  // the manifests chain, and the one after the hole records it
  const cuts = await manifests(config, topic)
  for (let i = 1; i < cuts.length; i++) assert.equal(cuts[i]?.startOffset, cuts[i - 1]?.endOffset)
  const withHole = cuts.filter((c) => c.skipped !== undefined)
  assert.deepEqual(withHole.map((c) => c.skipped), [[{ from: 100, to: low }]])
  assert.equal(withHole[0]?.startOffset, 100)

  // nothing else is missing or duplicated: ids 0..99 and low..899, once each
  const output = await readOutput(stack, 'logs')
  const want = [...messages(0, 100), ...messages(100, 800)].filter((_, i) => i < 100 || i >= low).map((m) => m.id)
  assert.deepEqual([...output.good.keys()].sort(), [...want].sort())
  assert.ok([...output.good.values()].every((dirs) => dirs.length === 1), 'no duplicates')

  // verify reports the loss (not "complete"), and no unexplained gap
  const kafka2 = connectKafkaOffsets(config.kafka)
  try {
    const report = await verifyOutput({ config, store: createStore(config), kafka: kafka2, checksums: false })
    const expired = report.findings.filter((f) => f.kind === 'expired')
    assert.deepEqual(expired.map((f) => [f.severity, f.range]), [['error', { start: 100, end: low }]])
    assert.equal(report.findings.filter((f) => f.kind === 'gap').length, 0)
    assert.equal(report.status, 'incomplete')
  } finally {
    await kafka2.close()
  }
}

test('a deleted and recreated topic stops its partition with SEDIMENT_LOG_REPLACED and a metric; a new generation and group archive the new log', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'recreated'
  const groupId = 'recreate'
  await stack.kafka.createTopic(topic, 1)
  await produce(stack.kafka.bootstrap, topic, messages(0, 100))
  await runUntilCaughtUp(stack, testConfig(stack, topic, groupId), topic, groupId)
  const before = await readOutput(stack, 'logs')
  const oldCuts = await manifests(testConfig(stack, topic, groupId), topic)
  assert.equal(oldCuts.at(-1)?.endOffset, 100)

  // The topic is deleted and created again: a new log from offset 0 and no committed offset for the group
  // (Kafka drops a deleted topic's group offsets). The mock cannot delete a topic; a fresh cluster is the same
  // as far as Sediment can tell: the same topic name, a log restarting at 0, the old manifests in the bucket.
  const fresh = await MockKafka.start()
  t.after(async () => { await fresh.stop() })
  await fresh.createTopic(topic, 1)
  await produce(fresh.bootstrap, topic, messages(1000, 30))
  const onFresh: Stack = { ...stack, kafka: fresh }
  const stoppedLog = (logs: Array<Record<string, unknown>>): Record<string, unknown> | undefined =>
    logs.find((l) => l.code === 'SEDIMENT_LOG_REPLACED')
  const { samples, logs } = await runUntilCaughtUp(onFresh, testConfig(onFresh, topic, groupId), topic, groupId,
    (lines) => stoppedLog(lines) !== undefined)
  const stopped = stoppedLog(logs)
  assert.equal(stopped?.level, 50)
  assert.equal(stopped?.resumeAt, 100)
  assert.equal(stopped?.high, 30)
  assert.match(String(stopped?.msg), /recreated.*generation/s)
  assert.equal(sum(samples ?? [], M.PARTITIONS_STOPPED, { topic, partition: '0', reason: 'new-log' }), 1)
  // nothing of the new log was read past, committed or written
  assert.equal((await committedOffsets(onFresh, groupId, topic)).get(0), -1)
  assert.deepEqual(await manifests(testConfig(stack, topic, groupId), topic), oldCuts)
  assert.deepEqual((await readOutput(stack, 'logs')).objects, before.objects)

  // The documented remedy: a new generation with a new group archives the new log beside the old one.
  const remedy = validateConfig({ ...serviceConfig(onFresh, topic, 'recreate-g2', { upload: { maxFileAgeSeconds: 1 }, metrics: { port: 0 }, sink: credentials(stack), log: { level: 'info' } }), generation: 2 })
  await runUntilCaughtUp(onFresh, remedy, topic, 'recreate-g2')
  const after = await readOutput(stack, 'logs')
  const added = after.objects.filter((k) => !before.objects.includes(k))
  assert.ok(added.length > 0 && added.every((k) => /\/2_0_\d{20}\.jsonl\.gz$/.test(k)), `new objects are generation 2: ${added.join(', ')}`)
  for (let i = 1000; i < 1030; i++) assert.deepEqual(after.good.get(`m${i}`)?.length, 1, `m${i} archived once`)
  for (let i = 0; i < 100; i++) assert.deepEqual(after.good.get(`m${i}`)?.length, 1, `m${i} still archived once`)
})

test('a reader overtaken by retention while reading resumes at the log start, not at the end, even with autoOffsetReset latest', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'overtaken'
  await stack.kafka.createTopic(topic, 1)
  await produce(stack.kafka.bootstrap, topic, messages(0, 50))
  const source = new KafkaSource({
    brokers: stack.kafka.bootstrap, groupId: 'overtaken', topics: [topic], logger: pino({ level: 'silent' }),
    autoOffsetReset: 'latest', sessionTimeoutMs: 6000, heartbeatIntervalMs: 300, highWaterMark: 1, maxBytesPerPartition: 64 * 1024
  })
  const skipped: SkippedEvent[] = []
  source.on('skipped', (e: SkippedEvent) => { skipped.push(e) })
  try {
    await overtaken(stack, topic, source, skipped)
  } finally {
    // before the stack's own teardown stops the cluster, so that leaving the group is quick
    source.endInput()
    await source.close()
  }
})

async function overtaken (stack: Stack, topic: string, source: KafkaSource, skipped: SkippedEvent[]): Promise<void> {
  let assigned: AssignmentEvent | undefined
  source.on('assignment', (e: AssignmentEvent) => { assigned = e })
  await source.start()
  await waitFor('assignment', 20_000, () => assigned !== undefined, 100)
  // a new group with 'latest' starts at the end (50); the first batch read is 50..59, then the reader stalls
  await produce(stack.kafka.bootstrap, topic, messages(50, 10))
  const it = source[Symbol.asyncIterator]()
  const firstBatch = async (): Promise<RecordBatch> => {
    for (;;) {
      const { value } = await it.next() as { value: PipelineItem }
      if (value.kind === 'batch') return value
    }
  }
  const first = await firstBatch()
  assert.equal(first.firstOffset, 50)
  await waitFor('the source held by backpressure', 20_000, () => source.paused, 100)
  // meanwhile ~8 MiB arrive: the mock keeps ~5 MiB, so the reader's position (60) is deleted
  await produce(stack.kafka.bootstrap, topic, messages(60, 800, 10_000), { batchSize: 50 })
  const kafka = connectKafkaOffsets({ brokers: stack.kafka.bootstrap, clientId: 'test', ssl: false, connectionTimeoutMs: 5000 })
  const { low, high } = (await kafka.watermarks(topic)).get(0) ?? { low: 0, high: 0 }
  await kafka.close()
  assert.ok(low > 60, `log start ${low} passed the reader`)
  // the reader continues: it must go on at the log start (kafkajs resets an out-of-range offset) and count the hole
  const next = await Promise.race([firstBatch(), sleep(25_000).then(() => {
    throw new Error('no batch within 25 s after the reader was overtaken (was it reset to the end of the log?)')
  })])
  assert.equal(next.firstOffset, low, `resumed at the log start ${low}, not at the end ${high}`)
  assert.deepEqual(next.skipped, [{ from: 60, to: low }])
  assert.deepEqual(skipped.map((s) => [s.from, s.to]), [[60, low]])
}
