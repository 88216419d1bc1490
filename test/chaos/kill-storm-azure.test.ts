/**
 * A smaller kill storm on Azure Blob (Azurite): the service is SIGKILLed at random moments (external kills, and
 * kills at a commit-protocol step with a random pass number) while cuts are uploading, committing and completing
 * on 8 partitions, restarted each time, until the kills are done or the topic is drained; a last incarnation
 * drains the rest. Every record exactly once.
 *
 *   CHAOS_SEED, CHAOS_KILLS (default 8), CHAOS_MESSAGES (default 40000)
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { allCommitted, committedOffsets, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig } from '../helpers/e2e.js'
import { readAzureOutput, startAzure } from '../helpers/azure.js'
import { sumOffsets } from '../helpers/chaos.js'

const SEED = Number(process.env.CHAOS_SEED ?? (Date.now() % 2 ** 31))
const KILLS = Number(process.env.CHAOS_KILLS ?? 8)
const MESSAGES = Number(process.env.CHAOS_MESSAGES ?? 40_000)

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test(`Azure kill storm: ${KILLS} SIGKILLs at random moments, exactly once afterwards (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
  const rand = prng(SEED)
  const stack = await startStack(t)
  const { store, env } = await startAzure(t, 'sediment-storm')
  const topic = 'storm'
  const group = 'storm-azure'
  await stack.kafka.createTopic(topic, 8)
  const messages = sampleMessages({ topic, partitions: 8, count: MESSAGES, hours: 4, badPerKind: 1 })
  await produce(stack.kafka.bootstrap, topic, messages)
  const base = serviceConfig(stack, topic, group, { upload: { maxFileBytes: 32 * 1024, maxFileAgeSeconds: 1 }, log: { level: 'info' } })
  const config = await writeConfig(stack, 'storm-azure', { ...base, sink: { type: 'azure', container: 'sediment-storm', prefix: 'logs' } })

  let killed = 0
  for (let i = 0; i < KILLS && !(await allCommitted(stack, group, topic)); i++) {
    const before = sumOffsets(await committedOffsets(stack, group, topic))
    const points = ['after-part', 'after-intent', 'after-commit'] as const
    const atStep = rand() < 0.4
    const crash: Record<string, string> = atStep ? { SEDIMENT_CRASH_POINT: `${points[Math.floor(rand() * 3)]}:${1 + Math.floor(rand() * 20)}` } : {}
    const run = spawnService(t, config, { ...env, ...crash })
    if (!atStep) {
      await waitFor(`incarnation ${i} started`, 30_000, () => run.output().includes('sediment starting'))
      await waitFor(`incarnation ${i} commits`, 90_000, async () => sumOffsets(await committedOffsets(stack, group, topic)) > before || await allCommitted(stack, group, topic), 200)
      await sleep(Math.floor(rand() * 1500))
      run.child.kill('SIGKILL')
    }
    // A crash point whose pass never comes (the topic is drained first) would leave the incarnation idling: kill it.
    let finished = false
    void run.exited.then(() => { finished = true })
    await waitFor(`incarnation ${i} ends`, 120_000, async () => finished || await allCommitted(stack, group, topic), 250)
    if (!finished) run.child.kill('SIGKILL')
    const exit = await run.exited
    if (exit.signal === 'SIGKILL') killed++
    const now = sumOffsets(await committedOffsets(stack, group, topic))
    t.diagnostic(`kill ${i + 1}: ${atStep ? crash.SEDIMENT_CRASH_POINT : 'external'} → ${exit.signal ?? `exit ${String(exit.code)}`}, committed ${before} → ${now}`)
  }
  const last = spawnService(t, config, env)
  // Its signal handlers are installed before this line; a SIGTERM before them would kill it outright.
  await waitFor('last incarnation started', 30_000, () => last.output().includes('sediment starting'))
  await waitFor('everything committed', 180_000, async () => await allCommitted(stack, group, topic), 500)
  last.child.kill('SIGTERM')
  assert.equal((await last.exited).code, 0, last.output().slice(-2000))

  const output = await readAzureOutput(store, 'logs')
  const v = verify(messages, output)
  t.diagnostic(`seed=${SEED} kills=${killed} of ${KILLS} planned (the rest come after the topic is drained) produced ${v.produced}+${v.badProduced} found ${v.found}+${v.badFound} lost ${v.lost}+${v.badLost} duplicated ${v.duplicated}+${v.badDuplicated} misplaced ${v.misplaced} objects ${output.objects.length}`)
  assert.deepEqual(v.examples, [])
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
})
