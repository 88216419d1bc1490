import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { CompressionTypes, Kafka, logLevel } from 'kafkajs'
import { ROOT, allCommitted, serviceConfig, spawnService, startStack, waitFor, writeConfig, type Stack } from '../helpers/e2e.js'
import { readTopic, restoreMessages, type Rec } from './helpers.js'

interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** `sediment restore ...` as a child process (the CLI entry point), optionally armed with a crash point. */
async function restoreCli (t: TestContext, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'sediment.js'), 'restore', ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-200_000) })
  return await new Promise((resolve) => { child.once('close', (code, signal) => { resolve({ code, signal, stdout, stderr }) }) })
}

async function archive (t: TestContext, stack: Stack, topic: string, partitions: number, perPartition: number): Promise<string> {
  await stack.kafka.createTopic(topic, partitions)
  const kafka = new Kafka({ clientId: 'restore-test-producer', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  const messages = restoreMessages(partitions, perPartition, Date.now() - 3 * 3600_000)
  for (let i = 0; i < messages.length; i += 500) {
    await producer.send({ topic, acks: -1, compression: CompressionTypes.None, messages: messages.slice(i, i + 500) })
  }
  await producer.disconnect()
  const config = await writeConfig(stack, 'archive', serviceConfig(stack, topic, 'archiver', {
    output: { format: 'jsonl', compression: 'gzip', wrap: true },
    upload: { maxFileBytes: 32 * 1024, maxFileAgeSeconds: 2 },
    log: { level: 'warn' }
  }))
  const service = spawnService(t, config)
  await waitFor('everything archived', 120_000, async () => await allCommitted(stack, 'archiver', topic), 500)
  service.child.kill('SIGTERM')
  await service.exited
  return config
}

function assertSame (actual: Map<number, Rec[]>, expected: Map<number, Rec[]>, what: string): void {
  for (const [p, records] of expected) {
    const got = actual.get(p) ?? []
    assert.equal(got.length, records.length, `${what}: partition ${p} holds ${got.length} records, the source ${records.length}`)
    for (let i = 0; i < records.length; i++) assert.deepEqual(got[i], records[i], `${what}: partition ${p} record ${i}`)
  }
}

test('restore round trip: wrapped JSON lines back into a new topic with keys, headers, timestamps and per-partition order; SIGKILLed three times and resumed without duplicates', { timeout: 300_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'orders'
  const config = await archive(t, stack, topic, 3, 600)
  const source = await readTopic(stack, topic)
  const total = [...source.values()].reduce((n, r) => n + r.length, 0)
  assert.equal(total, 1800)

  const dry = await restoreCli(t, ['--config', config, '--topic', topic, '--target', 'orders-restored', '--dry-run', '--json'])
  assert.equal(dry.code, 0, dry.stderr)
  const dryStats = JSON.parse(dry.stdout) as { records: number, objects: number }
  assert.equal(dryStats.records, total, 'dry run counts every archived record')
  t.diagnostic(`dry run: ${dryStats.objects} objects, ${dryStats.records} records`)

  await stack.kafka.createTopic('orders-restored', 3)
  // The librdkafka mock reports no controller, so kafkajs cannot get a producer id there: plain producer.
  const args = ['--config', config, '--topic', topic, '--target', 'orders-restored', '--batch-records', '50', '--no-idempotence']
  const started = Date.now()
  // 1. killed mid-object, right after a batch was acknowledged (the object's progress says "begun")
  const k1 = await restoreCli(t, args, { SEDIMENT_CRASH_POINT: 'restore-batch:9' })
  assert.equal(k1.signal, 'SIGKILL', k1.stderr)
  // 2. killed after an object was wholly produced, before the next object's progress was saved
  const k2 = await restoreCli(t, args, { SEDIMENT_CRASH_POINT: 'restore-object-done:4' })
  assert.equal(k2.signal, 'SIGKILL', k2.stderr)
  // 3. killed right after an object's start offset was saved, before its first send (resumes skipping nothing)
  const k3 = await restoreCli(t, args, { SEDIMENT_CRASH_POINT: 'restore-begun:2' })
  assert.equal(k3.signal, 'SIGKILL', k3.stderr)
  const mid = await readTopic(stack, 'orders-restored')
  const landed = [...mid.values()].reduce((n, r) => n + r.length, 0)
  assert.ok(landed > 0 && landed < total, `the kills landed mid-way (${landed}/${total})`)

  const finish = await restoreCli(t, [...args, '--json'])
  assert.equal(finish.code, 0, finish.stderr)
  const stats = JSON.parse(finish.stdout) as { records: number, skipped: number, objects: number, objectsDone: number }
  t.diagnostic(`killed at restore-batch:9, restore-object-done:4 and restore-begun:2 (${landed} records in Kafka), then finished: ${JSON.stringify(stats)}; ${Date.now() - started} ms for the three runs`)
  assertSame(await readTopic(stack, 'orders-restored'), source, 'after three SIGKILLs and a restart')
  assert.equal(stats.skipped, 0, 'killed before the object\'s first send: nothing of it to skip')

  // a finished restore run again produces nothing
  const again = await restoreCli(t, [...args, '--json'])
  assert.equal(again.code, 0, again.stderr)
  assert.equal((JSON.parse(again.stdout) as { records: number }).records, 0)
  assertSame(await readTopic(stack, 'orders-restored'), source, 'after a rerun')
})
