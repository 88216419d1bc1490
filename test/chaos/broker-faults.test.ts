import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { produce, type SampleMessage } from '../../src/demo/sample-data.js'
import {
  LogWatcher, checkCommits, committedBehindVisible, committedWithMetadata, everythingCommitted, exitWithin, manifestEnds,
  produceOverTime, summaryLine, sumOffsets, taggedMessages, tolerant, unexpectedIds, verifyBatch, withAdmin
} from '../helpers/chaos.js'
import {
  committedOffsets, endOffsets, readOutput, serviceConfig, spawnService, startStack, waitFor, writeConfig,
  type ServiceProcess, type Stack
} from '../helpers/e2e.js'

// Kafka protocol numbers for pushRequestErrors
const Api = { Fetch: 1, OffsetCommit: 8, Heartbeat: 12 } as const
const Err = {
  NOT_LEADER_OR_FOLLOWER: 6, REQUEST_TIMED_OUT: 7, COORDINATOR_NOT_AVAILABLE: 15, NOT_COORDINATOR: 16,
  REBALANCE_IN_PROGRESS: 27, UNKNOWN_SERVER_ERROR: -1
} as const

interface Window {
  name: string
  /** Starts the fault; returns what ends it. */
  start: () => Promise<() => Promise<void>>
  ms: number
  /** Partitions that cannot take produce requests during the window (their leader is down): produced before it. */
  unavailable?: number[]
}

interface Run {
  stack: Stack
  topic: string
  group: string
  partitions: number
  service: ServiceProcess
  logs: LogWatcher
  died: () => string | undefined
  batches: Array<{ tag: string, messages: SampleMessage[] }>
}

async function startRun (t: TestContext, brokers: number, name: string, baseCount: number): Promise<Run> {
  const stack = await startStack(t, { brokers })
  const topic = name
  const group = name
  const partitions = 6
  await stack.kafka.createTopic(topic, partitions, Math.min(brokers, 3))
  // the coordinator is pinned, so a window can take down a broker that is (or is not) the coordinator
  await stack.kafka.setGroupCoordinator(group, 1)
  const base = taggedMessages(`${name}base`, { topic, partitions, count: baseCount, hours: 3, badPerKind: 1 })
  await produce(stack.kafka.bootstrap, topic, base)
  const config = await writeConfig(stack, name, serviceConfig(stack, topic, group, {
    upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 1 },
    log: { level: 'info' }
  }))
  const service = spawnService(t, config)
  const logs = new LogWatcher(service.child)
  let died: string | undefined
  void service.exited.then((e) => { died ??= `exited (${e.signal ?? `code ${String(e.code)}`})` })
  await waitFor('the base batch committed', 60_000, tolerant(async () => await everythingCommitted(stack, group, topic)), 500)
  return { stack, topic, group, partitions, service, logs, died: () => died, batches: [{ tag: `${name}base`, messages: base }] }
}

async function leaders (stack: Stack, topic: string): Promise<Map<number, number>> {
  return await withAdmin(stack, async (admin) => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    return new Map((meta.topics[0]?.partitions ?? []).map((p) => [p.partitionId, p.leader]))
  })
}

/** One fault window with its own batch; after it, waits until everything is committed again. */
async function runWindow (t: TestContext, run: Run, w: Window, index: number): Promise<string> {
  const { stack, topic, group, partitions, logs } = run
  const messages = taggedMessages(w.name, { topic, partitions, count: 3000, hours: 2, startMs: Date.UTC(2026, 10, 21 + index) })
  run.batches.push({ tag: w.name, messages })
  const blocked = new Set(w.unavailable ?? [])
  const before = logs.snapshot()
  const committedBefore = sumOffsets(await committedOffsets(stack, group, topic))
  // produce requests never race a broker going down (a lost produce ack would duplicate input, not output)
  await produce(stack.kafka.bootstrap, topic, messages.filter((m) => blocked.has(m.partition)))
  const windowStart = Date.now()
  const stop = await w.start()
  const producing = produceOverTime(stack.kafka.bootstrap, topic, messages.filter((m) => !blocked.has(m.partition)), { durationMs: w.ms - 500, chunks: 6 })
  producing.catch(() => {}) // awaited below; a failed test must not leave an unhandled rejection behind
  const problems: string[] = []
  const behind: string[] = []
  let samples = 0
  const sample = async (): Promise<void> => {
    const ends = await manifestEnds(stack, 'logs', topic) // before the offsets: a manifest is written after its commit
    // sampling needs the coordinator; while it is down there is nothing to sample
    const committed = await committedWithMetadata(stack, group, topic).catch(() => undefined)
    if (committed === undefined) return
    samples++
    problems.push(...(await checkCommits(stack, committed)).problems)
    behind.push(...committedBehindVisible(ends, committed))
  }
  while (Date.now() - windowStart < w.ms) {
    await sleep(500)
    assert.equal(run.died(), undefined, `${w.name}: the service ${run.died() ?? ''}\n${run.service.output().slice(-3000)}`)
    await sample()
  }
  await stop()
  await producing
  const healed = Date.now()
  await waitFor(`everything committed after ${w.name}`, 90_000, tolerant(async () => await everythingCommitted(stack, group, topic)), 250)
  const recoveryMs = Date.now() - healed
  await sample()
  const committedAfter = sumOffsets(await committedOffsets(stack, group, topic))
  const noted = logs.since(before, /retrying|crashed|pipeline failed|rejoin|assignment|fenced|abandoned|unknown|re-reading|completing a cut|rebalanc|^Response (OffsetCommit|Fetch|Heartbeat)|Connection error/i)
  const summary: Record<string, number> = {}
  for (const [msg, n] of Object.entries(noted)) {
    const key = msg.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, '<broker>').replace(/\(key: \d+, version: \d+\)/, 'error')
    summary[key] = (summary[key] ?? 0) + n
  }
  assert.deepEqual(problems, [], `${w.name}: committed offsets not backed by the bucket`)
  // A commit that kafkajs retried across a rejoin can land late and move the offset back (commit-race.test.ts):
  // tolerated by design (a new owner resumes after the newest manifest), so only reported; exactly-once at the
  // end is what counts.
  if (behind.length > 0) t.diagnostic(`${w.name}: late commit moved the offset back: ${[...new Set(behind)].join('; ')}`)
  assert.equal(run.died(), undefined, `${w.name}: the service ${run.died() ?? ''}`)
  assert.ok(committedAfter >= committedBefore + messages.length, `${w.name}: the batch was committed after the fault`)
  const line = `${w.name}: window ${w.ms} ms, ${samples} commit samples, committed ${committedBefore} → ${committedAfter}, recovered in ${recoveryMs} ms, service logged ${JSON.stringify(summary)}`
  t.diagnostic(line)
  return line
}

/** SIGTERM, exit 0, committed == end offsets, and each batch exactly once. */
async function finish (t: TestContext, run: Run): Promise<void> {
  const { stack, topic, group, service, logs } = run
  service.child.kill('SIGTERM')
  const exit = await exitWithin(service.exited, 30_000)
  assert.ok(exit !== undefined, `the service did not stop within 30 s of SIGTERM; output tail:\n${service.output().slice(-6000)}`)
  assert.equal(exit.code, 0, service.output().slice(-3000))
  const [committed, end] = await Promise.all([committedOffsets(stack, group, topic), endOffsets(stack, topic)])
  assert.deepEqual([...committed].sort(), [...end].sort(), 'committed offsets equal the end offsets')
  const output = await readOutput(stack, 'logs')
  let total = 0
  for (const b of run.batches) {
    const v = verifyBatch(b.messages, output, b.tag)
    total += v.produced + v.badProduced
    t.diagnostic(summaryLine(b.tag, v))
    assert.deepEqual(v.examples, [], b.tag)
    assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0, b.tag)
  }
  assert.deepEqual(unexpectedIds(run.batches.map((b) => b.messages), output), [])
  t.diagnostic(`${total} messages; consumer crashes ${logs.count('kafka consumer crashed')}, pipeline restarts ${logs.count('pipeline failed; restarting from the last commit')}, ` +
    `assignments ${logs.count('partitions assigned')}, fenced cuts ${logs.count('cut abandoned; aborting its uploads')}, ambiguous ${logs.count(/commit outcome unknown/)}`)
}

test('3 brokers: a partition leader down, the coordinator down, OffsetCommit and Fetch errors, a forced rebalance, slow brokers: exactly once', { timeout: 180_000 }, async (t) => {
  const started = Date.now()
  const run = await startRun(t, 3, 'kchaos', 6000)
  const { stack, topic } = run
  t.diagnostic(`base batch committed after ${Date.now() - started} ms`)
  const led = await leaders(stack, topic)
  const onBroker = (id: number): number[] => [...led].filter(([, b]) => b === id).map(([p]) => p)
  t.diagnostic(`partition leaders ${JSON.stringify(Object.fromEntries(led))}, group coordinator broker 1`)
  // broker 1 is the coordinator; the broker taken down first is one that leads partitions but is not the coordinator
  const victim = [2, 3].find((b) => onBroker(b).length > 0) ?? 2

  const windows: Window[] = [
    {
      name: 'leader-down',
      ms: 6000,
      unavailable: onBroker(victim),
      start: async () => {
        await stack.kafka.brokerDown(victim)
        return async () => { await stack.kafka.brokerUp(victim) }
      }
    },
    {
      name: 'offsetcommit-errors',
      ms: 6000,
      start: async () => {
        const codes = [Err.REQUEST_TIMED_OUT, Err.NOT_COORDINATOR, Err.COORDINATOR_NOT_AVAILABLE]
        await stack.kafka.pushRequestErrors(Api.OffsetCommit, ...Array.from({ length: 30 }, (_, i) => codes[i % codes.length] as number))
        return async () => { await stack.kafka.clearRequestErrors(Api.OffsetCommit) }
      }
    },
    {
      name: 'fetch-errors',
      ms: 6000,
      start: async () => {
        const codes = [Err.NOT_LEADER_OR_FOLLOWER, Err.REQUEST_TIMED_OUT, Err.UNKNOWN_SERVER_ERROR]
        await stack.kafka.pushRequestErrors(Api.Fetch, ...Array.from({ length: 20 }, (_, i) => codes[i % codes.length] as number))
        return async () => { await stack.kafka.clearRequestErrors(Api.Fetch) }
      }
    },
    {
      // REBALANCE_IN_PROGRESS on a heartbeat makes the member rejoin: a new generation while cuts are in flight
      name: 'forced-rebalance',
      ms: 9000,
      start: async () => {
        await stack.kafka.pushRequestErrors(Api.Heartbeat, Err.REBALANCE_IN_PROGRESS)
        return async () => { await stack.kafka.clearRequestErrors(Api.Heartbeat) }
      }
    },
    {
      name: 'broker-rtt-400ms',
      ms: 6000,
      start: async () => {
        await stack.kafka.setRtt(-1, 400)
        return async () => { await stack.kafka.setRtt(-1, 0) }
      }
    },
    {
      // longer than the 6 s session timeout: the group loses its member and the service must rejoin
      name: 'coordinator-down',
      ms: 8000,
      unavailable: onBroker(1),
      start: async () => {
        await stack.kafka.brokerDown(1)
        return async () => { await stack.kafka.brokerUp(1) }
      }
    }
  ]
  const only = process.env.CHAOS_WINDOWS?.split(',') // e.g. CHAOS_WINDOWS=coordinator-down to iterate on one window
  for (const [i, w] of windows.entries()) if (only === undefined || only.includes(w.name)) await runWindow(t, run, w, i)
  await finish(t, run)
  t.diagnostic(`took ${Date.now() - started} ms`)
})

test('1 broker: the only broker (coordinator and every leader) down briefly, then a longer outage: exactly once', { timeout: 180_000 }, async (t) => {
  const started = Date.now()
  const run = await startRun(t, 1, 'kchaos1', 4000)
  const { stack } = run
  const all = Array.from({ length: run.partitions }, (_, p) => p)
  const down = (name: string, ms: number): Window => ({
    name,
    ms,
    unavailable: all,
    start: async () => {
      await stack.kafka.brokerDown(1)
      return async () => { await stack.kafka.brokerUp(1) }
    }
  })
  await runWindow(t, run, down('only-broker-down-3s', 3000), 0)
  await runWindow(t, run, down('only-broker-down-9s', 9000), 1)
  await finish(t, run)
  t.diagnostic(`took ${Date.now() - started} ms`)
})
