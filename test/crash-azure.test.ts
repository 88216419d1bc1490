import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { ROOT, allCommitted, committedOffsets, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig } from './helpers/e2e.js'
import { readAzureOutput, startAzure } from './helpers/azure.js'
import { sumOffsets } from './helpers/chaos.js'

const CONTAINER = 'sediment-crash'

test('Azure Blob (Azurite): SIGKILL mid-upload, between upload and commit, between commit and completion, and mid-batch: still exactly once; verify agrees', { timeout: 480_000 }, async (t) => {
  const stack = await startStack(t)
  const { store, env } = await startAzure(t, CONTAINER)

  const topic = 'crashlogs'
  const group = 'crash-azure'
  await stack.kafka.createTopic(topic, 8)
  const messages = sampleMessages({ topic, partitions: 8, count: 40_000, hours: 6, badPerKind: 2 })
  await produce(stack.kafka.bootstrap, topic, messages)
  const base = serviceConfig(stack, topic, group, { upload: { maxFileBytes: 48 * 1024, maxFileAgeSeconds: 2 }, log: { level: 'info' } })
  const config = await writeConfig(stack, 'crash-azure', { ...base, sink: { type: 'azure', container: CONTAINER, prefix: 'logs' } })

  let committedBefore = 0
  const outputs: string[] = []
  for (const [point, crash] of [['mid-upload', 'after-part:40'], ['between upload and commit', 'after-intent:12'], ['between commit and completion', 'after-commit:10']] as const) {
    const run = spawnService(t, config, { ...env, SEDIMENT_CRASH_POINT: crash })
    const exit = await run.exited
    outputs.push(run.output())
    assert.equal(exit.signal, 'SIGKILL', `run killed at ${point}; output tail: ${run.output().slice(-2000)}`)
    const committedNow = sumOffsets(await committedOffsets(stack, group, topic))
    t.diagnostic(`killed ${point}: committed ${committedBefore} → ${committedNow}`)
    committedBefore = committedNow
  }
  const run4 = spawnService(t, config, env)
  await waitFor('progress after restart', 90_000, async () => sumOffsets(await committedOffsets(stack, group, topic)) > committedBefore + 2000, 250)
  run4.child.kill('SIGKILL')
  await run4.exited
  outputs.push(run4.output())
  assert.match(outputs[3] ?? '', /completing a cut committed by a previous owner/)

  const last = spawnService(t, config, env)
  await waitFor('everything committed', 150_000, async () => await allCommitted(stack, group, topic), 500)
  last.child.kill('SIGTERM')
  const exit = await last.exited
  assert.equal(exit.code, 0, last.output().slice(-2000))

  const output = await readAzureOutput(store, 'logs')
  const v = verify(messages, output)
  t.diagnostic(`produced ${v.produced}+${v.badProduced} found ${v.found}+${v.badFound} lost ${v.lost}+${v.badLost} duplicated ${v.duplicated}+${v.badDuplicated} misplaced ${v.misplaced} objects ${output.objects.length}`)
  assert.deepEqual(v.examples, [])
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
  assert.equal(v.found, v.produced)
  let staged = 0
  for await (const _ of store.listUploads('logs/')) staged++
  t.diagnostic(`staged (uncommitted, invisible) uploads left for Azure to expire: ${staged}`)

  const cli = async (args: string[]): Promise<{ code: number, out: string }> => await new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'sediment.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), out: `${stdout}${stderr}` })
    })
  })
  // `sediment verify` reads the same container (manifests, commits, checksums) and agrees.
  const report = await cli(['verify', '--config', config])
  assert.equal(report.code, 0, report.out.slice(-3000))
  t.diagnostic(report.out.split('\n').slice(0, 6).join(' | '))
  // `sediment finalize` marks the hours every partition has committed past (the data is from 2026-11-20).
  const finConfig = await writeConfig(stack, 'crash-azure-fin', { ...base, sink: { type: 'azure', container: CONTAINER, prefix: 'logs' }, finalizer: { delaySeconds: 60, lookbackPeriods: 24 * 400 } })
  const fin = await cli(['finalize', '--config', finConfig])
  assert.equal(fin.code, 0, fin.out.slice(-3000))
  const markers: string[] = []
  for await (const o of store.list('logs/crashlogs/')) if (o.key.endsWith('/_SUCCESS')) markers.push(o.key)
  t.diagnostic(`finalize: ${fin.out.split('\n')[0] ?? ''}; markers ${markers.length}`)
  assert.ok(markers.includes('logs/crashlogs/dt=2026-11-20/hr=00/_SUCCESS'), markers.join(','))
})
