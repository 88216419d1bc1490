/**
 * Scale out and in during one run: 1 → 3 → 2 → 1 processes in the same consumer group while the topic keeps
 * filling. The original process works alone, two more join and all three commit, then the original leaves with
 * SIGTERM (must exit 0 after flushing), one of the newcomers is SIGKILLed (its cuts in flight are left behind), and
 * the last one takes every partition over and drains the topic. The bucket must hold every message exactly once.
 *
 *   CHAOS_SEED  PRNG seed for the kill moment (printed; default: time-based)
 *   SEDIMENT_TEST_DEBUG  dump the three processes' output to /tmp/scale-<seed>-{A,B,C}.log (also done on failure)
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { sampleMessages } from '../../src/demo/sample-data.js'
import { checkCommits, committedWithMetadata, produceOverTime, summaryLine, sumOffsets } from '../helpers/chaos.js'
import { commitsOf, pipelineRestarts, type CommitLine } from '../helpers/service-log.js'
import {
  allCommitted, committedOffsets, readOutput, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig,
  type ServiceProcess
} from '../helpers/e2e.js'

const SEED = Number(process.env.CHAOS_SEED ?? (Date.now() % 2 ** 31))
const PARTITIONS = 12
const MESSAGES = 60_000

const committedSince = (p: ServiceProcess, since: number): CommitLine[] => commitsOf(p).filter((c) => c.time > since)
const partitionsOf = (cs: CommitLine[]): number[] => [...new Set(cs.map((c) => c.partition))].sort((a, b) => a - b)

test('scale out and in: 1 → 3 → 2 → 1 processes in one group (SIGTERM one, SIGKILL one), still exactly once', { timeout: 300_000 }, async (t) => {
  const started = Date.now()
  let seed = SEED >>> 0
  const rand = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32 }
  t.diagnostic(`seed=${SEED} (replay with CHAOS_SEED=${SEED})`)

  const stack = await startStack(t)
  const topic = 'scalelogs'
  const group = 'scale'
  await stack.kafka.createTopic(topic, PARTITIONS)
  const messages = sampleMessages({ topic, partitions: PARTITIONS, count: MESSAGES, hours: 4, badPerKind: 2 })
  const config = await writeConfig(stack, 'scale', serviceConfig(stack, topic, group, {
    kafka: { sessionTimeoutMs: 4000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 8000 },
    upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 1 },
    log: { level: 'info' }
  }))
  // the topic keeps filling through every phase, so there is always work to hand over
  const producing = produceOverTime(stack.kafka.bootstrap, topic, messages, { durationMs: 50_000, chunks: 100 })

  const procs: Record<string, ServiceProcess> = {}
  let passed = false
  t.after(() => {
    if (passed && process.env.SEDIMENT_TEST_DEBUG === undefined) return
    for (const [name, p] of Object.entries(procs)) writeFileSync(`/tmp/scale-${SEED}-${name}.log`, p.output())
    t.diagnostic(`process outputs in /tmp/scale-${SEED}-{${Object.keys(procs).join(',')}}.log`)
  })
  const alive = (name: string): void => {
    const p = procs[name] as ServiceProcess
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      throw new Error(`${name} exited on its own (${p.child.signalCode ?? `code ${String(p.child.exitCode)}`}): ${p.output().slice(-3000)}`)
    }
  }
  const phase = (what: string): void => { t.diagnostic(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`) }

  // 1: A alone
  const a = procs.A = spawnService(t, config)
  await waitFor('A commits', 60_000, async () => {
    alive('A')
    return commitsOf(a).length > 0 && sumOffsets(await committedOffsets(stack, group, topic)) > 0
  }, 200)
  phase(`1 process: A committed ${commitsOf(a).length} cuts on partitions ${partitionsOf(commitsOf(a)).join(',')}`)

  // 3: B and C join; all three commit in the same generation
  const b = procs.B = spawnService(t, config)
  const c = procs.C = spawnService(t, config)
  await waitFor('B and C commit', 90_000, () => {
    for (const n of ['A', 'B', 'C']) alive(n)
    return commitsOf(b).length > 0 && commitsOf(c).length > 0
  }, 200)
  const threeSince = Math.max(...[b, c].map((p) => (commitsOf(p)[0] as CommitLine).time))
  await waitFor('A, B and C all commit after the three-way rebalance', 60_000, () => {
    for (const n of ['A', 'B', 'C']) alive(n)
    return [a, b, c].every((p) => committedSince(p, threeSince).length > 0)
  }, 200)
  const three = [a, b, c].map((p) => partitionsOf(committedSince(p, threeSince)))
  phase(`3 processes: partitions committed since the rebalance A=[${three[0]?.join(',')}] B=[${three[1]?.join(',')}] C=[${three[2]?.join(',')}]`)

  // 2: A (the original) leaves gracefully: flushes, commits, leaves the group, exits 0
  const beforeTerm = sumOffsets(await committedOffsets(stack, group, topic))
  a.child.kill('SIGTERM')
  const aExit = await a.exited
  assert.equal(aExit.code, 0, `A exits 0 on SIGTERM; output tail: ${a.output().slice(-3000)}`)
  assert.match(a.output(), /"msg":"stopped"/)
  const aGone = Date.now()
  phase(`A stopped with SIGTERM (exit 0); committed ${beforeTerm} → ${sumOffsets(await committedOffsets(stack, group, topic))}`)
  await waitFor('B and C commit after A left', 60_000, () => {
    for (const n of ['B', 'C']) alive(n)
    return committedSince(b, aGone).length > 0 && committedSince(c, aGone).length > 0
  }, 200)
  // then C dies at a random moment while both are busy
  const delay = Math.floor(rand() * 2000)
  await sleep(delay)
  alive('C')
  const beforeKill = sumOffsets(await committedOffsets(stack, group, topic))
  c.child.kill('SIGKILL')
  const cExit = await c.exited
  assert.equal(cExit.signal, 'SIGKILL')
  const cGone = Date.now()
  phase(`2 processes: B=[${partitionsOf(committedSince(b, aGone)).join(',')}] C=[${partitionsOf(committedSince(c, aGone)).join(',')}]; C SIGKILLed +${delay}ms at committed ${beforeKill}`)

  // 1: B takes everything over and drains the topic
  await producing
  await waitFor('everything committed', 120_000, async () => {
    alive('B')
    return await allCommitted(stack, group, topic)
  }, 500)
  const bLast = partitionsOf(committedSince(b, cGone))
  phase(`1 process: B committed on [${bLast.join(',')}] after C died${b.output().includes('completing a cut committed by a previous owner') ? '; completed a dead owner\'s cut' : ''}`)
  b.child.kill('SIGTERM')
  const bExit = await b.exited
  assert.equal(bExit.code, 0, `B exits 0 on SIGTERM; output tail: ${b.output().slice(-3000)}`)

  const output = await readOutput(stack, 'logs')
  const v = verify(messages, output)
  const commits = await checkCommits(stack, await committedWithMetadata(stack, group, topic))
  const restarts = Object.fromEntries(Object.entries(procs).map(([n, p]) => [n, pipelineRestarts(p)]))
  const quirk = Object.entries(restarts).map(([n, r]) => `${n}=${r.mockSyncGroup}`).join(' ')
  phase(`objects ${output.objects.length}; misplaced ${v.misplaced}; pipeline restarts caused by the mock's SyncGroup quirk: ${quirk}`)
  t.diagnostic(summaryLine('scale', v, `misplaced=${v.misplaced} seed=${SEED} seconds=${((Date.now() - started) / 1000).toFixed(0)}`))
  assert.deepEqual(v.examples, [])
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
  assert.equal(v.found, v.produced)
  assert.deepEqual(commits.problems, [], 'every committed offset is backed by visible objects')
  assert.equal(commits.pending, 0, 'no committed cut is left incomplete after the graceful stop')
  assert.deepEqual(Object.values(restarts).flatMap((r) => r.other), [], 'no process had to restart its pipeline (other than for the mock quirk)')
  passed = true
})
