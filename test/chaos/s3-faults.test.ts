import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { produce, type SampleMessage } from '../../src/demo/sample-data.js'
import { S3FaultProxy, type FaultMode } from '../../src/testing/s3-fault-proxy.js'
import {
  LogWatcher, checkCommits, committedBehindVisible, committedWithMetadata, exitWithin, leftoverIntents, manifestEnds,
  produceOverTime, summaryLine, sumOffsets, taggedMessages, unexpectedIds, verifyBatch
} from '../helpers/chaos.js'
import {
  BUCKET, allCommitted, committedOffsets, endOffsets, readOutput, serviceConfig, spawnService, startStack, waitFor, writeConfig
} from '../helpers/e2e.js'

interface Fault {
  name: string
  mode: FaultMode
  ms: number
  /** Nothing can commit while S3 is unreachable: intents cannot be written. */
  commitsFrozen?: boolean
  /** The fault makes requests fail, so the SDK or the service must retry. */
  expectRetries?: boolean
}

/** S3 faults, one window each, while the real service (a child process, as deployed) consumes and uploads. */
const FAULTS: Fault[] = [
  { name: 's3-down', mode: 'down', ms: 6000, commitsFrozen: true, expectRetries: true },
  { name: 's3-503-slowdown', mode: { mode: 'error', status: 503 }, ms: 6000, expectRetries: true },
  { name: 's3-500-on-complete', mode: { mode: 'error', status: 500, operations: ['CompleteMultipartUpload'] }, ms: 6000, expectRetries: true },
  { name: 's3-slow', mode: { mode: 'slow', delayMs: 1500, bytesPerSecond: 256 * 1024 }, ms: 6000 },
  // every request reaches S3 and takes effect, but the client sees a 500: retries must cope with requests that succeeded
  { name: 's3-lost-responses', mode: { mode: 'error', status: 500, forward: true }, ms: 4000, expectRetries: true }
]

test('S3 down, 503 SlowDown, 500 on CompleteMultipartUpload, slow S3, lost responses: the service survives, commits stay durable, output is exactly once', { timeout: 180_000 }, async (t) => {
  const started = Date.now()
  const stack = await startStack(t)
  const proxy = await S3FaultProxy.start({ target: stack.s3.endpoint })
  t.after(() => proxy.stop())
  const topic = 's3chaos'
  const group = 's3chaos'
  const partitions = 6
  await stack.kafka.createTopic(topic, partitions)

  const base = taggedMessages('base', { topic, partitions, count: 6000, hours: 3, badPerKind: 1 })
  await produce(stack.kafka.bootstrap, topic, base)
  // small files and 1 s age cuts: many cuts (uploads, intents, commits, completions) inside every fault window
  const config = await writeConfig(stack, 's3chaos', serviceConfig(stack, topic, group, {
    upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 1 },
    sink: { endpoint: proxy.endpoint, socketTimeoutMs: 5000 },
    log: { level: 'info' }
  }))
  const service = spawnService(t, config)
  const logs = new LogWatcher(service.child)
  let died: string | undefined
  void service.exited.then((e) => { died ??= `exited (${e.signal ?? `code ${String(e.code)}`})` })
  const tail = (): string => service.output().slice(-3000)

  await waitFor('the base batch committed', 60_000, async () => await allCommitted(stack, group, topic), 500)
  t.diagnostic(`base batch of ${base.length} committed after ${Date.now() - started} ms`)

  // one batch per fault (ids tagged with the fault's name), so each fault gets its own exactly-once verdict
  const batches: Array<{ fault: string, messages: SampleMessage[] }> = [{ fault: 'base', messages: base }]
  const report: string[] = []
  for (const [i, fault] of FAULTS.entries()) {
    const messages = taggedMessages(fault.name, { topic, partitions, count: 3000, hours: 2, startMs: Date.UTC(2026, 10, 21 + i) })
    batches.push({ fault: fault.name, messages })
    const logsBefore = logs.snapshot()
    proxy.resetStats()
    const committedBefore = sumOffsets(await committedWithMetadata(stack, group, topic))

    const windowStart = Date.now()
    await proxy.setMode(fault.mode)
    // data keeps arriving through the whole window, so cuts keep happening while the fault is on
    const producing = produceOverTime(stack.kafka.bootstrap, topic, messages, { durationMs: fault.ms - 500, chunks: 6 })
    producing.catch(() => {}) // awaited below; a failed test must not leave an unhandled rejection behind
    let frozenAt: number | undefined
    let samples = 0
    let committedButInvisible = 0
    const violations: string[] = []
    while (Date.now() - windowStart < fault.ms) {
      await sleep(500)
      const ends = await manifestEnds(stack, 'logs', topic) // before the offsets: a manifest is written after its commit
      const committed = await committedWithMetadata(stack, group, topic)
      samples++
      const check = await checkCommits(stack, committed)
      violations.push(...check.problems, ...committedBehindVisible(ends, committed))
      committedButInvisible += check.pending > 0 ? 1 : 0
      // a commit whose intent landed just before the endpoint went down may still go through: 1.5 s of grace
      if (fault.commitsFrozen === true && Date.now() - windowStart >= 1500) {
        frozenAt ??= sumOffsets(committed)
        assert.equal(sumOffsets(committed), frozenAt, `${fault.name}: committed offsets advanced while S3 was unreachable`)
      }
      assert.equal(died, undefined, `${fault.name}: the service ${died ?? ''}\n${tail()}`)
    }
    await proxy.setMode('pass')
    await producing
    const during = proxy.stats()
    const healed = Date.now()
    await waitFor(`everything committed after ${fault.name}`, 90_000, async () => await allCommitted(stack, group, topic), 250)
    const recoveryMs = Date.now() - healed
    const orphans = (await stack.s3.listIncompleteUploads(BUCKET)).length
    const committedAfter = sumOffsets(await committedWithMetadata(stack, group, topic))
    const retries = logs.since(logsBefore, /retrying/)
    const retryCount = Object.values(retries).reduce((a, b) => a + b, 0)

    report.push(`${fault.name}: window ${fault.ms} ms, ${samples} samples, proxy saw ${during.requests} requests (${during.injected} faulted, ` +
      `${during.sdkRetries} SDK retries, ${during.droppedConnections} connections dropped), service logged ${JSON.stringify(retries)}, ` +
      `committed ${committedBefore} → ${frozenAt !== undefined ? `${frozenAt} (frozen) → ` : ''}${committedAfter}, ` +
      `recovered in ${recoveryMs} ms, incomplete uploads in the bucket ${orphans}${committedButInvisible > 0 ? `, committed-but-not-yet-visible cuts seen in ${committedButInvisible} samples` : ''}`)
    t.diagnostic(report[report.length - 1] as string)
    assert.deepEqual(violations, [], `${fault.name}: committed offsets not backed by the bucket, or behind visible data`)
    assert.equal(died, undefined, `${fault.name}: the service ${died ?? ''}\n${tail()}`)
    // retries happen in two layers: the SDK's own (seen by the proxy) and, once those are used up, ours (logged)
    if (fault.expectRetries === true) assert.ok(retryCount + during.sdkRetries > 0, `${fault.name}: the service retried (${JSON.stringify(retries)}, SDK retries ${during.sdkRetries})`)
    if (fault.mode !== 'down') assert.ok(during.injected > 0, `${fault.name}: the fault hit requests`)
    assert.ok(committedAfter >= committedBefore + messages.length, `${fault.name}: the batch was committed after the fault`)
  }

  // graceful stop: exit 0, nothing left to commit
  service.child.kill('SIGTERM')
  const exit = await exitWithin(service.exited, 30_000)
  assert.ok(exit !== undefined, `the service did not stop within 30 s of SIGTERM\n${tail()}`)
  assert.equal(exit.code, 0, tail())
  assert.equal(logs.count('pipeline failed; restarting from the last commit'), 0, 'S3 faults never fail the pipeline')
  assert.equal(logs.count(/vanished|differs from the committed cut|recovery of the previous cut failed|cut failed/), 0, tail())

  // every cut finished: manifests written, intents deleted (a leftover would only be garbage, but show it)
  const intents = await leftoverIntents(stack, 'logs')
  t.diagnostic(`leftover intents: ${intents.length}; 'writing the manifest failed' logged ${logs.count('writing the manifest failed')}x`)

  const output = await readOutput(stack, 'logs')
  let total = 0
  for (const b of batches) {
    const v = verifyBatch(b.messages, output, b.fault)
    total += v.produced + v.badProduced
    t.diagnostic(summaryLine(b.fault === 'base' ? 'none' : b.fault, v))
    assert.deepEqual(v.examples, [], b.fault)
    assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0, b.fault)
  }
  assert.deepEqual(unexpectedIds(batches.map((b) => b.messages), output), [])
  assert.ok(total >= 20_000)
  t.diagnostic(`${total} messages, ${output.objects.length} objects, ${logs.count('committed')} commits, ${(await stack.s3.listIncompleteUploads(BUCKET)).length} incomplete uploads left (started by requests whose answers were lost, then retried; invisible, the lifecycle rule removes them), ${Date.now() - started} ms`)
})

// A request that is accepted but never answered must fail by the socket timeout and be retried; without it the cut
// waits forever, the partition stops committing and SIGTERM waits too (found by this test; sink.socketTimeoutMs).
test('a stalled S3 request (accepted, never answered) must not stall its partition forever', {
  timeout: 120_000
}, async (t) => {
  const stack = await startStack(t)
  const proxy = await S3FaultProxy.start({ target: stack.s3.endpoint })
  t.after(() => proxy.stop())
  const topic = 's3stall'
  const group = 's3stall'
  await stack.kafka.createTopic(topic, 2)
  const config = await writeConfig(stack, 's3stall', serviceConfig(stack, topic, group, {
    upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 1 },
    sink: { endpoint: proxy.endpoint },
    log: { level: 'info' }
  }))
  const service = spawnService(t, config)
  const logs = new LogWatcher(service.child)
  const first = taggedMessages('stall1', { topic, partitions: 2, count: 1000, hours: 1 })
  await produce(stack.kafka.bootstrap, topic, first)
  await waitFor('the first batch committed', 60_000, async () => await allCommitted(stack, group, topic), 500)

  // exactly one request hangs: the next UploadPart. S3 front ends do this now and then; nothing ever answers it.
  await proxy.setMode({ mode: 'stall', operations: ['UploadPart'], times: 1 })
  const second = taggedMessages('stall2', { topic, partitions: 2, count: 1000, hours: 1 })
  await produce(stack.kafka.bootstrap, topic, second)
  await waitFor('the request stalled', 20_000, () => proxy.stats().stalled === 1, 100)
  const stalledAt = Date.now()
  const done = await waitFor('everything committed despite one stalled request', 45_000, async () => await allCommitted(stack, group, topic), 500)
    .then(() => true, () => false)
  const committed = await committedOffsets(stack, group, topic)
  t.diagnostic(`stalled UploadPart: everything committed ${done ? `${Date.now() - stalledAt} ms after the stall` : 'never (45 s)'}; ` +
    `committed ${JSON.stringify(Object.fromEntries(committed))} of ${JSON.stringify(Object.fromEntries(await endOffsets(stack, topic)))}; ` +
    `service logged ${JSON.stringify(logs.breakdown(/retrying|timed out|timeout/i))}; proxy UploadPart ${JSON.stringify(proxy.stats().byOperation.UploadPart)}`)

  // a graceful stop must not wait forever for the stalled request either
  const stopping = Date.now()
  service.child.kill('SIGTERM')
  const exit = await exitWithin(service.exited, 20_000)
  t.diagnostic(`SIGTERM: ${exit === undefined ? 'still running after 20 s' : `exited with ${exit.signal ?? `code ${String(exit.code)}`} after ${Date.now() - stopping} ms`}`)
  if (exit === undefined) service.child.kill('SIGKILL')

  const output = await readOutput(stack, 'logs')
  for (const [tag, messages] of [['stall1', first], ['stall2', second]] as const) {
    const v = verifyBatch(messages, output, tag)
    // "missing" here is not loss: what is not committed is still in Kafka and is read again after a restart
    t.diagnostic(`fault=s3-stalled-request batch=${tag} produced=${v.produced} found=${v.found} not-yet-delivered=${v.lost} duplicated=${v.duplicated}`)
    assert.equal(v.duplicated, 0)
  }
  assert.ok(done, 'a partition whose UploadPart never gets an answer is stuck: the S3 client has no request/socket timeout')
  assert.ok(exit !== undefined && exit.code === 0, 'SIGTERM stops the service')
})
