import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { produce } from '../../src/demo/sample-data.js'
import { decodeMetadata } from '../../src/sinks/layout.js'
import {
  LogWatcher, committedBehindVisible, everythingCommitted, exitWithin, manifestEnds, produceOverTime, summaryLine, taggedMessages,
  tolerant, unexpectedIds, verifyBatch
} from '../helpers/chaos.js'
import { kafkaAdmin, readOutput, serviceConfig, spawnService, startStack, waitFor, writeConfig } from '../helpers/e2e.js'

const Api = { OffsetCommit: 8, Heartbeat: 12 } as const
const REQUEST_TIMED_OUT = 7
const REBALANCE_IN_PROGRESS = 27

/**
 * kafkajs retries a failed OffsetCommit by itself (runner.commitOffsets → retrier), and each retry is stamped with
 * the generation current *at that retry*. A commit of the old generation that is still being retried when the
 * member rejoins therefore lands later, in the new generation, with an older cut's offset and metadata — after
 * the new epoch (which read the committed offset before it landed) has already committed a cut that overlaps it.
 * KafkaSource.commit notices afterwards (epoch changed → "ambiguous"), but the commit has landed: the committed
 * offset went backwards and names an intent covering data that is already visible. Without the start resolver
 * (CommitProtocol.startOffset, resume after the newest manifest) a crash right then made the next owner complete
 * that intent and re-read from the stale offset: 588–630 duplicates per run.
 *
 * Here: OffsetCommit requests time out (retriable, as during a coordinator failover); while one is being retried a
 * heartbeat error forces a rejoin; the errors stop once the new generation is assigned. The service is SIGKILLed
 * as soon as the committed offset is seen behind visible data, restarted, and the bucket is checked.
 */
test('an OffsetCommit retried across a rejoin lands late and moves the offset back; a crash right then still leaves the output exactly once', { timeout: 150_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'race'
  const group = 'race'
  await stack.kafka.createTopic(topic, 2)
  const base = taggedMessages('racebase', { topic, partitions: 2, count: 1000, hours: 1 })
  await produce(stack.kafka.bootstrap, topic, base)
  const config = await writeConfig(stack, 'race', serviceConfig(stack, topic, group, {
    upload: { maxFileBytes: 1024 * 1024, maxFileAgeSeconds: 1 },
    log: { level: 'info' }
  }))
  const first = spawnService(t, config)
  const logs = new LogWatcher(first.child)
  await waitFor('the base batch committed', 60_000, tolerant(async () => await everythingCommitted(stack, group, topic)), 500)

  // a steady trickle, so cuts (and commits) happen every second in both generations
  const trickle = taggedMessages('racetrickle', { topic, partitions: 2, count: 4000, hours: 1, startMs: Date.UTC(2026, 10, 22) })
  const producing = produceOverTime(stack.kafka.bootstrap, topic, trickle, { durationMs: 24_000, chunks: 48 })
  producing.catch(() => {}) // awaited below; a failed test must not leave an unhandled rejection behind
  await sleep(1500)

  const admin = kafkaAdmin(stack)
  await admin.connect()
  t.after(() => admin.disconnect())
  const history = new Map<number, Array<{ offset: number, start: number | null, at: number }>>()
  let regression: string | undefined
  const sample = async (): Promise<void> => {
    const ends = await manifestEnds(stack, 'logs', topic) // before the offsets: a manifest is written after its commit
    const [tp] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    const behind = committedBehindVisible(ends, (tp?.partitions ?? []).map((p) => ({ partition: p.partition, offset: Number(p.offset), metadata: p.metadata ?? null })))
    if (behind.length > 0) regression ??= behind.join('; ')
    for (const p of tp?.partitions ?? []) {
      const offset = Number(p.offset)
      const h = history.get(p.partition) ?? []
      const last = h[h.length - 1]
      if (last === undefined || last.offset !== offset) {
        h.push({ offset, start: decodeMetadata(p.metadata ?? null)?.start ?? null, at: Date.now() })
        history.set(p.partition, h)
        if (last !== undefined && offset < last.offset) regression ??= `partition ${p.partition}: committed ${last.offset} → ${offset} (cut ${decodeMetadata(p.metadata ?? null)?.start ?? '?'}..${offset})`
      }
    }
  }

  // commits time out (kafkajs retries them with backoff); once one is being retried, force a rejoin
  const failedCommits = logs.count(/^Response OffsetCommit/)
  await stack.kafka.pushRequestErrors(Api.OffsetCommit, ...Array<number>(500).fill(REQUEST_TIMED_OUT))
  await waitFor('a commit being retried by kafkajs', 20_000, () => logs.count(/^Response OffsetCommit/) > failedCommits, 20)
  await stack.kafka.pushRequestErrors(Api.Heartbeat, REBALANCE_IN_PROGRESS)
  const injected = Date.now()
  const assignments = logs.count('partitions assigned')
  let cleared = false
  while (Date.now() - injected < 30_000 && regression === undefined) {
    if (!cleared && logs.count('partitions assigned') > assignments) {
      // the new generation is in: from now on commits go through, the old generation's retries included
      await stack.kafka.clearRequestErrors(Api.OffsetCommit)
      cleared = true
    }
    await sample().catch(() => {})
    await sleep(50)
  }
  if (regression !== undefined) first.child.kill('SIGKILL') // die before the next commit overwrites the stale one
  await stack.kafka.clearRequestErrors(Api.OffsetCommit)
  t.diagnostic(`rejoined: ${cleared}; fenced cuts: ${logs.count('cut abandoned; aborting its uploads')}; ambiguous commits: ${logs.count(/commit outcome unknown/)}; regression: ${regression ?? 'none seen'}`)
  t.diagnostic(`commit history: ${JSON.stringify(Object.fromEntries([...history].map(([p, h]) => [p, h.map((e) => `${e.start ?? '?'}..${e.offset}@+${e.at - injected}`)])))}`)
  await producing

  // a fresh owner: recovers whatever the committed metadata names, then consumes the rest
  if (regression === undefined) first.child.kill('SIGKILL')
  await first.exited
  // CHAOS_LOG=<file> keeps the first owner's log for a look at the race
  if (process.env.CHAOS_LOG !== undefined) await import('node:fs/promises').then(async (fs) => { await fs.writeFile(process.env.CHAOS_LOG as string, first.output()) })
  // is the committed offset still behind what is visible when the next owner starts? (the dying owner's
  // next commit may have healed it already)
  const endsAtRestart = await manifestEnds(stack, 'logs', topic)
  const [atRestart] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  const behindAtRestart = committedBehindVisible(endsAtRestart, (atRestart?.partitions ?? []).map((p) => ({ partition: p.partition, offset: Number(p.offset), metadata: p.metadata ?? null })))
  t.diagnostic(`committed offsets behind visible data at restart: ${behindAtRestart.join('; ') || 'none'}`)
  const second = spawnService(t, config)
  const logs2 = new LogWatcher(second.child)
  await waitFor('the restarted service consuming', 30_000, () => logs2.count('partitions assigned') > 0, 100)
  await waitFor('everything committed after the restart', 90_000, tolerant(async () => await everythingCommitted(stack, group, topic)), 500)
  second.child.kill('SIGTERM')
  assert.equal((await second.exited).code, 0)
  t.diagnostic(`the restarted service completed ${logs2.count('completing a cut committed by a previous owner')} cut(s) of the previous owner`)

  const output = await readOutput(stack, 'logs')
  const verdicts = [['racebase', base], ['racetrickle', trickle]] as const
  for (const [tag, messages] of verdicts) t.diagnostic(summaryLine(`late-commit-across-rejoin(${tag})`, verifyBatch(messages, output, tag)))
  // kafkajs' own commit retry can still land late and move the committed offset back (nothing outside kafkajs
  // prevents it); what must hold is that it is harmless: the next owner resumes after the newest committed cut.
  if (behindAtRestart.length > 0) {
    assert.match(second.output(), /committed offset is behind the newest committed cut/, 'the restarted owner noticed the late commit')
  }
  for (const [tag, messages] of verdicts) {
    const v = verifyBatch(messages, output, tag)
    assert.equal(v.lost + v.duplicated, 0, `${tag}: ${v.examples.join('; ')}`)
  }
  assert.deepEqual(unexpectedIds(verdicts.map(([, m]) => [...m]), output), [])
})

/**
 * The same kafkajs retry, at shutdown: the sink waits only for the cuts of the current generation, so a cut of the
 * previous generation may still be inside kafkajs's commit retrier when the consumer disconnects. The shutdown must
 * still end with exit 0 (and not leave a connection behind that keeps the process alive).
 */
test('SIGTERM while a commit of the previous generation is still being retried by kafkajs: the process exits', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'racestop'
  const group = 'racestop'
  await stack.kafka.createTopic(topic, 2)
  const base = taggedMessages('racestop', { topic, partitions: 2, count: 1000, hours: 1 })
  await produce(stack.kafka.bootstrap, topic, base)
  const config = await writeConfig(stack, 'racestop', serviceConfig(stack, topic, group, {
    upload: { maxFileBytes: 1024 * 1024, maxFileAgeSeconds: 1 },
    log: { level: 'info' }
  }))
  const service = spawnService(t, config)
  const logs = new LogWatcher(service.child)
  await waitFor('the base batch committed', 60_000, tolerant(async () => await everythingCommitted(stack, group, topic)), 500)
  const trickle = taggedMessages('racestoptrickle', { topic, partitions: 2, count: 2000, hours: 1, startMs: Date.UTC(2026, 10, 22) })
  const producing = produceOverTime(stack.kafka.bootstrap, topic, trickle, { durationMs: 8000, chunks: 16 })
  producing.catch(() => {}) // awaited below; a failed test must not leave an unhandled rejection behind
  await sleep(1500)

  const failedCommits = logs.count(/^Response OffsetCommit/)
  await stack.kafka.pushRequestErrors(Api.OffsetCommit, ...Array<number>(500).fill(REQUEST_TIMED_OUT))
  await waitFor('a commit being retried by kafkajs', 20_000, () => logs.count(/^Response OffsetCommit/) > failedCommits, 20)
  const assignments = logs.count('partitions assigned')
  await stack.kafka.pushRequestErrors(Api.Heartbeat, REBALANCE_IN_PROGRESS)
  await waitFor('the new generation assigned', 30_000, () => logs.count('partitions assigned') > assignments, 20)
  // the new generation's commits go through from here; the old generation's retry is still waiting for its turn
  const before = logs.snapshot()
  await stack.kafka.clearRequestErrors(Api.OffsetCommit)
  await waitFor('a commit in the new generation', 20_000, () => logs.since(before, /^committed$/).committed !== undefined, 50)
  const stopping = Date.now()
  service.child.kill('SIGTERM')
  const exit = await exitWithin(service.exited, 20_000)
  const stopped = logs.count('sediment stopped') > 0
  t.diagnostic(`SIGTERM → ${stopped ? '"sediment stopped" logged, ' : ''}${exit === undefined ? 'process still running 20 s later' : `exit ${exit.signal ?? String(exit.code)} after ${Date.now() - stopping} ms`}; ` +
    `ambiguous commits ${logs.count(/commit outcome unknown/)}`)
  if (exit === undefined) service.child.kill('SIGKILL')
  await producing
  assert.ok(exit !== undefined, 'the process exits after a graceful shutdown')
  assert.equal(exit.code, 0)
})
