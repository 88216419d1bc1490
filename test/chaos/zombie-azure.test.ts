import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { allCommitted, committedOffsets, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig, type ServiceProcess } from '../helpers/e2e.js'
import { readAzureOutput, startAzure } from '../helpers/azure.js'
import { sumOffsets } from '../helpers/chaos.js'

// The zombie scenario of zombie.test.ts on Azure Blob (Azurite). On Azure a re-read writes blocks to the same
// blob names the zombie staged under (keys carry each file's first offset), and abort cannot drop staged blocks:
// the new owner's Put Block List must win, and the zombie's late completion must neither overwrite nor duplicate.

async function isStopped (pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')
}

for (const step of (process.env.ZOMBIE_STEPS?.split(',') ?? ['after-intent', 'after-commit', 'after-part']) as Array<'after-intent' | 'after-commit' | 'after-part'>) {
  test(`Azure: zombie writer frozen ${step} past its session timeout never makes a stale object visible`, { timeout: 240_000 }, async (t) => {
    const stack = await startStack(t)
    const { store, env } = await startAzure(t, 'sediment-zombie')
    const topic = `zombie-${step}`
    const group = `zombie-az-${step}`
    await stack.kafka.createTopic(topic, 4)
    const messages = sampleMessages({ topic, partitions: 4, count: 16_000, hours: 5, badPerKind: 1 })
    await produce(stack.kafka.bootstrap, topic, messages)
    const base = serviceConfig(stack, topic, group, { upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 2 }, log: { level: 'info' } })
    const config = await writeConfig(stack, group, { ...base, sink: { type: 'azure', container: 'sediment-zombie', prefix: 'logs' } })

    const a = spawnService(t, config, { ...env, SEDIMENT_STOP_POINT: `${step}:6` })
    await waitFor('A frozen', 90_000, async () => await isStopped(a.child.pid as number), 100)
    const frozenAt = sumOffsets(await committedOffsets(stack, group, topic))
    const b: ServiceProcess = spawnService(t, config, env)
    await waitFor('B takes over and commits', 90_000, async () => sumOffsets(await committedOffsets(stack, group, topic)) > frozenAt + 1000, 250)
    if (step === 'after-commit') await waitFor('B completes the frozen cut', 30_000, () => b.output().includes('completing a cut committed by a previous owner'))

    a.child.kill('SIGCONT')
    await waitFor('A resumes', 30_000, () => a.output().includes(`resumed after stop point ${step}`))
    // Refused after its intent, A cannot tell whether its commit landed (a fencing answer is never definite): it
    // abandons the cut or leaves it as ambiguous, never completes it.
    if (step !== 'after-commit') await waitFor('A gives up its cut', 60_000, () => /cut abandoned|commit outcome unknown/.test(a.output()))

    await waitFor('everything committed', 120_000, async () => await allCommitted(stack, group, topic), 500)
    b.child.kill('SIGTERM')
    assert.equal((await b.exited).code, 0)
    a.child.kill('SIGTERM')
    assert.equal((await a.exited).code, 0)

    const v = verify(messages, await readAzureOutput(store, 'logs'))
    t.diagnostic(`fault=azure-zombie-${step} produced=${v.produced + v.badProduced} found=${v.found + v.badFound} lost=${v.lost + v.badLost} duplicated=${v.duplicated + v.badDuplicated}`)
    assert.deepEqual(v.examples, [])
    assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
  })
}
