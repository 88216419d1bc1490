import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import {
  allCommitted, committedOffsets, readOutput, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig,
  type ServiceProcess
} from '../helpers/e2e.js'

const sum = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + Math.max(b, 0), 0)

async function isStopped (pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')
}

async function stopGracefully (p: ServiceProcess): Promise<number | null> {
  p.child.kill('SIGTERM')
  return (await p.exited).code
}

for (const step of (process.env.ZOMBIE_STEPS?.split(',') ?? ['after-intent', 'after-commit', 'after-part']) as Array<'after-intent' | 'after-commit' | 'after-part'>) {
  test(`zombie writer frozen ${step} past its session timeout never makes a stale object visible`, { timeout: 240_000 }, async (t) => {
    const stack = await startStack(t)
    const topic = `zombie-${step}`
    const group = `zombie-${step}`
    await stack.kafka.createTopic(topic, 4)
    const messages = sampleMessages({ topic, partitions: 4, count: 16_000, hours: 5, badPerKind: 1 })
    await produce(stack.kafka.bootstrap, topic, messages)
    const config = await writeConfig(stack, group, serviceConfig(stack, topic, group, {
      upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 2 },
      log: { level: 'info' }
    }))

    // A freezes itself at `step` on its 6th pass, holding all four partitions.
    const a = spawnService(t, config, { SEDIMENT_STOP_POINT: `${step}:6` })
    let b: ServiceProcess | undefined
    t.after(() => {
      if (process.env.SEDIMENT_TEST_DEBUG !== undefined) {
        writeFileSync(`/tmp/zombie-${step}-A.log`, a.output())
        writeFileSync(`/tmp/zombie-${step}-B.log`, b?.output() ?? '')
      }
    })
    await waitFor('A frozen', 90_000, async () => await isStopped(a.child.pid as number), 100)
    const frozenAt = sum(await committedOffsets(stack, group, topic))

    // B joins; after A's session timeout the group gives B everything, and B makes progress past A.
    b = spawnService(t, config)
    await waitFor('B takes over and commits', 90_000, async () => sum(await committedOffsets(stack, group, topic)) > frozenAt + 1000, 250)
    if (step === 'after-commit') {
      // A committed but did not complete: B finished that cut for it before committing anything itself.
      await waitFor('B completes the frozen cut', 30_000, () => (b as ServiceProcess).output().includes('completing a cut committed by a previous owner'))
    }

    // The zombie wakes up exactly where it froze.
    a.child.kill('SIGCONT')
    await waitFor('A resumes', 30_000, () => a.output().includes(`resumed after stop point ${step}`))
    if (step !== 'after-commit') {
      // Its commit is refused, so it never completes. Kafka's refusal is not taken as a definite fence (kafkajs
      // may have retried an attempt that landed): the cut is either abandoned or left, invisible, to the owner.
      await waitFor('A gives up its cut', 60_000, () => /cut abandoned|commit outcome unknown/.test(a.output()))
      assert.doesNotMatch(a.output().slice(a.output().indexOf('resumed after stop point')), /"msg":"committed"[^\n]*"offset":/, 'A committed nothing after resuming before it rejoined')
    }

    await waitFor('everything committed', 120_000, async () => await allCommitted(stack, group, topic), 500)
    assert.equal(await stopGracefully(b as ServiceProcess), 0)
    assert.equal(await stopGracefully(a), 0)

    const v = verify(messages, await readOutput(stack, 'logs'))
    t.diagnostic(`fault=zombie-${step} produced=${v.produced + v.badProduced} found=${v.found + v.badFound} lost=${v.lost + v.badLost} duplicated=${v.duplicated + v.badDuplicated}`)
    assert.deepEqual(v.examples, [])
    assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
  })
}
