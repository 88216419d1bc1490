/**
 * The finalizer against real servers (librdkafka mock cluster, s3rver), with the service writing the data:
 * markers and the Hive hook from `sediment finalize` (CLI), watermark vs idle completeness, idempotence, late data,
 * and the in-run finalizer.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { validateConfig } from '../../src/config/options.js'
import { produce, type SampleMessage } from '../../src/demo/sample-data.js'
import { Finalizer } from '../../src/finalizer/finalizer.js'
import type { LateData, LateDataMonitor } from '../../src/finalizer/late-data.js'
import { createLogger } from '../../src/logger.js'
import { createStore, runService } from '../../src/service.js'
import { connectKafkaOffsets } from '../../src/verify/kafka-offsets.js'
import { BUCKET, ROOT, allCommitted, readOutput, serviceConfig, startStack, waitFor, writeConfig, type Stack } from '../helpers/e2e.js'

const HOUR = 3_600_000
const logger = createLogger({ level: 'warn' })

function dirOf (ms: number): string {
  const iso = new Date(ms).toISOString()
  return `dt=${iso.slice(0, 10)}/hr=${iso.slice(11, 13)}`
}

/** `perHour` messages in each of the given hours (start instants), alternating partitions, in time order. */
function messagesIn (hours: number[], perHour: number, partitions: number, tag: string): SampleMessage[] {
  const out: SampleMessage[] = []
  for (const h of hours) {
    for (let i = 0; i < perHour; i++) {
      const ts = h + Math.floor((i + 0.5) * HOUR / perHour)
      const id = `${tag}-${out.length}`
      out.push({ partition: out.length % partitions, value: Buffer.from(JSON.stringify({ id, ts })), timestamp: ts, id, dir: `weblogs/${dirOf(ts)}` })
    }
  }
  return out
}

async function markers (stack: Stack, prefix: string): Promise<string[]> {
  const page = await stack.s3Client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/` }))
  return (page.Contents ?? []).map((o) => o.Key as string).filter((k) => k.endsWith('/_SUCCESS')).sort()
}

/** A stand-in for `hive -e` that records its arguments, one JSON line per call. */
async function fakeHive (stack: Stack): Promise<{ command: string[], calls: () => Promise<string[][]> }> {
  const log = join(stack.dir, 'hive-calls.jsonl')
  const script = join(stack.dir, 'fake-hive.cjs')
  await writeFile(script, `require('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n')\n`)
  await writeFile(log, '')
  return {
    command: [process.execPath, script, '-e', '{sql}'],
    calls: async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string[])
  }
}

async function cli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'sediment.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, stdout, stderr }
}

test('finalize: markers and the Hive hook once every partition is past the hour; idle partitions; idempotent; late data counted', { timeout: 90_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'weblogs'
  await stack.kafka.createTopic(topic, 2)
  const H = Math.floor(Date.now() / HOUR) * HOUR // this hour; the data is in the three before it
  const messages = messagesIn([H - 3 * HOUR, H - 2 * HOUR, H - HOUR], 100, 2, 'm')
  await produce(stack.kafka.bootstrap, topic, messages)

  const hive = await fakeHive(stack)
  const raw = serviceConfig(stack, topic, 'fin', {
    log: { level: 'warn' },
    metrics: { port: 0 },
    finalizer: { delaySeconds: 600, lookbackPeriods: 4, catalog: { type: 'hive', database: 'logs', hive: { command: hive.command } } }
  })
  const config = validateConfig(raw)
  const configFile = await writeConfig(stack, 'fin', raw)
  let late: LateDataMonitor | undefined
  const lateEvents: LateData[] = []
  const controller = new AbortController()
  const service = runService(config, {
    logger,
    signal: controller.signal,
    onLateData: (m) => { late = m; m.on('late', (e: LateData) => lateEvents.push(e)) }
  })
  t.after(async () => { controller.abort(); await service.catch(() => {}) })
  await waitFor('everything committed', 45_000, async () => await allCommitted(stack, 'fin', topic), 250)
  const committedAt = Date.now()
  assert.ok(late !== undefined, 'the service exposes its late-data counter')

  // 1. The CLI, one pass: both partitions committed events past hr H-2 + 10 min, not past H-1 + 10 min
  //    (their watermark is just before H), and they committed moments ago (not idle).
  const first = await cli(['finalize', '--config', configFile])
  assert.equal(first.code, 0, first.stderr)
  const dirs = [H - 4 * HOUR, H - 3 * HOUR, H - 2 * HOUR, H - HOUR].map(dirOf)
  assert.match(first.stdout, new RegExp(`^weblogs: finalized ${dirs.slice(0, 3).join(', ')}; complete through .*; next ${dirs[3]} waits for partition \\d: watermark`))
  assert.deepEqual(await markers(stack, 'logs'), dirs.slice(0, 3).map((d) => `logs/weblogs/${d}/_SUCCESS`))
  const location = (d: string): string => `s3://${BUCKET}/logs/weblogs/${d}/`
  const partitionSql = (d: string): string => `PARTITION (\`dt\`='${d.slice(3, 13)}', \`hr\`='${d.slice(-2)}') LOCATION '${location(d)}'`
  assert.deepEqual(await hive.calls(), [['-e', `ALTER TABLE \`logs\`.\`weblogs\` ADD IF NOT EXISTS ${dirs.slice(0, 3).map(partitionSql).join(' ')}`]])

  // 2. Ten minutes later (the clock is the finalizer's own) both partitions have been idle longer than the
  //    delay: hr H-1 is final as well.
  const store = createStore(config)
  const kafka = connectKafkaOffsets(config.kafka)
  t.after(async () => { await kafka.close(); await store.close() })
  const later = Date.now() + 601_000
  const finalizer = new Finalizer({ config, store, kafka, logger, now: () => later })
  const second = await finalizer.finalizeOnce()
  assert.equal(second.ok, true)
  assert.deepEqual(second.topics.map((r) => r.topic), [topic])
  assert.equal(second.topics[0]?.finalized[0], dirs[3])
  assert.equal(second.topics[0]?.completeThrough, later - 600_000)
  assert.ok((await markers(stack, 'logs')).includes(`logs/weblogs/${dirs[3]}/_SUCCESS`))
  const calls = await hive.calls()
  assert.equal(calls.length, 2)
  assert.match(calls[1]?.[1] ?? '', new RegExp(`ADD IF NOT EXISTS ${partitionSql(dirs[3] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))

  // 3. Idempotent: again, in a new finalizer and with the CLI: nothing is finalized or registered twice.
  const again = await new Finalizer({ config, store, kafka, logger, now: () => later }).finalizeOnce()
  assert.deepEqual(again.topics[0]?.finalized, [])
  assert.deepEqual((await finalizer.finalizeOnce()).topics[0]?.finalized, [])
  const third = await cli(['finalize', '--config', configFile, '--json'])
  assert.equal(third.code, 0, third.stderr)
  assert.deepEqual((JSON.parse(third.stdout) as { topics: Array<{ finalized: string[] }> }).topics[0]?.finalized, [])
  assert.equal((await hive.calls()).length, 2)
  await finalizer.close()

  // 4. Late data: records for finalized hours are still written, and counted; records for this hour are not late.
  const lateMessages = [
    ...messagesIn([H - 2 * HOUR], 3, 2, 'late'),
    ...messagesIn([H], 2, 2, 'now')
  ]
  // (the service saw these hours unmarked while writing them; it trusts that answer for 5 s)
  await sleep(Math.max(0, committedAt + 6000 - Date.now()))
  await produce(stack.kafka.bootstrap, topic, lateMessages)
  await waitFor('late records counted', 30_000, () => late?.lateRecordsTotal() === 3, 100)
  await waitFor('everything committed', 30_000, async () => await allCommitted(stack, 'fin', topic), 250)
  await late.settled()
  assert.equal(late.lateRecordsTotal(), 3)
  assert.deepEqual([...new Set(lateEvents.map((e) => `${e.topic}/${e.dir}`))], [`weblogs/${dirs[2]}`])
  controller.abort()
  await service

  // markers are not data: verify still finds the output complete and consistent
  const verified = await cli(['verify', '--config', configFile, '--no-checksums'])
  assert.equal(verified.code, 0, verified.stdout + verified.stderr)

  const output = await readOutput(stack, 'logs')
  for (const m of [...messages, ...lateMessages]) {
    assert.deepEqual(output.good.get(m.id as string), [m.dir], `${m.id ?? ''} exactly once in ${m.dir ?? ''}`)
  }
})

test('finalizer.inRun: the service finalizes by itself on the member that owns partition 0; finalize --watch runs until SIGTERM', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'weblogs'
  await stack.kafka.createTopic(topic, 2)
  const H = Math.floor(Date.now() / HOUR) * HOUR
  await produce(stack.kafka.bootstrap, topic, messagesIn([H - 2 * HOUR, H - HOUR], 50, 2, 'r'))
  const raw = serviceConfig(stack, topic, 'inrun', {
    log: { level: 'info' },
    metrics: { port: 0 },
    finalizer: { delaySeconds: 600, lookbackPeriods: 3, intervalSeconds: 1, inRun: true }
  })
  const config = validateConfig(raw)
  const configFile = await writeConfig(stack, 'watch', raw) // before the AWS SDK decorates the shared credentials object
  const controller = new AbortController()
  const service = runService(config, { logger, signal: controller.signal })
  t.after(async () => { controller.abort(); await service.catch(() => {}) })
  // hr H-2 is final once both partitions committed past it; H-1 is not (watermarks before H, not idle)
  const expected = [`logs/weblogs/${dirOf(H - 3 * HOUR)}/_SUCCESS`, `logs/weblogs/${dirOf(H - 2 * HOUR)}/_SUCCESS`]
  await waitFor('markers written by the service', 40_000, async () => (await markers(stack, 'logs')).length >= 2, 250)
  assert.deepEqual(await markers(stack, 'logs'), expected)
  controller.abort()
  await service

  // the same from the command line, as a long-running process: passes every second until SIGTERM
  const watch = spawn(process.execPath, [join(ROOT, 'bin', 'sediment.js'), 'finalize', '--watch', '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { if (watch.exitCode === null) watch.kill('SIGKILL') })
  let out = ''
  watch.stdout.on('data', (c: Buffer) => { out += c.toString() })
  watch.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>((resolve) => watch.once('exit', resolve))
  await waitFor('finalize --watch started', 20_000, () => out.includes('"finalizer watching"'), 100).catch((err: Error) => { throw new Error(`${err.message}: ${out}`) })
  await sleep(1500) // at least one more pass
  watch.kill('SIGTERM')
  assert.equal(await exited, 0, out)
  assert.match(out, /"msg":"finalizer stopping"/)
  assert.doesNotMatch(out, /"level":50/, 'no errors logged')
})
