import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { produce, sampleMessages, type SampleMessage } from '../../src/demo/sample-data.js'
import { createLogger } from '../../src/logger.js'
import { runService } from '../../src/service.js'
import { allCommitted, committedOffsets, readOutput, serviceConfig, startStack, verify, waitFor } from '../helpers/e2e.js'

const logger = process.env.SEDIMENT_TEST_DEBUG !== undefined ? createLogger({ level: 'info', destination: (await import('node:fs')).createWriteStream('/tmp/badinput.log') }) : createLogger({ level: 'silent' })

test('bad input: tombstones, 10 MB values, timestamps out of bounds and the seven malformed kinds all land in _errors, counted', { timeout: 240_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'badinput'
  await stack.kafka.createTopic(topic, 4)
  const good = sampleMessages({ topic, partitions: 4, count: 4000, hours: 3, badPerKind: 2 })
  const extra: SampleMessage[] = [
    ...[0, 1, 2].map((p) => ({ partition: p, value: null, timestamp: Date.UTC(2026, 10, 20, 1), bad: 'not-json' as const })),
    ...[0, 1, 2].map((p) => ({ partition: p, value: Buffer.from(JSON.stringify({ id: `future-${p}`, ts: Date.UTC(2099, 0, 1) })), timestamp: Date.UTC(2026, 10, 20, 1), bad: 'not-json' as const })),
    ...[0, 1, 2].map((p) => ({ partition: p, value: Buffer.from(JSON.stringify({ id: `past-${p}`, ts: '1999-12-31T23:00:00Z' })), timestamp: Date.UTC(2026, 10, 20, 1), bad: 'not-json' as const }))
  ]
  // 10 MB values get a topic of their own: the test broker keeps only ~5 MiB per partition and would evict the
  // rest of a partition (and so the other test data) to keep one
  const hugeTopic = 'badinput-huge'
  await stack.kafka.createTopic(hugeTopic, 2)
  const huge: SampleMessage[] = [0, 1].map((p) => ({ partition: p, value: Buffer.from(JSON.stringify({ id: `huge-${p}`, ts: Date.UTC(2026, 10, 20, 2), pad: 'x'.repeat(10 * 1024 * 1024) })), timestamp: Date.UTC(2026, 10, 20, 2), bad: 'not-json' as const }))
  await produce(stack.kafka.bootstrap, topic, [...good, ...extra])
  await produce(stack.kafka.bootstrap, hugeTopic, huge, { batchSize: 1 })
  extra.push(...huge)
  const config = validateConfig(serviceConfig(stack, topic, 'badinput', {
    kafka: { topics: [topic, hugeTopic] },
    parser: { type: 'json', timestampField: 'ts', timestampBounds: { notBefore: '2000-01-01' } },
    upload: { maxFileBytes: 12 * 1024 * 1024, maxFileAgeSeconds: 2 },
    log: { level: 'silent' }
  }))
  const controller = new AbortController()
  const service = runService(config, { logger, signal: controller.signal })
  let stats
  try {
    await waitFor('everything committed', 180_000, async () => await allCommitted(stack, 'badinput', topic) && await allCommitted(stack, 'badinput', hugeTopic), 500)
  } finally {
    controller.abort()
    stats = await service
  }
  const output = await readOutput(stack, 'logs')
  const v = verify(good, output)
  const reasons = output.badRecords.map((r) => String(r.reason))
  const count = (re: RegExp): number => reasons.filter((r) => re.test(r)).length
  const expectedBad = v.badProduced + extra.length
  t.diagnostic(`fault=bad-input produced=${v.produced + v.badProduced + extra.length} found=${v.found + output.badRecords.length} lost=${v.lost + v.badLost} duplicated=${v.duplicated + v.badDuplicated} errors=${stats.errorRecordsCommitted}`)
  assert.deepEqual(v.examples, [])
  assert.equal(v.lost + v.duplicated + v.misplaced + v.badLost + v.badDuplicated, 0)
  assert.equal(output.badRecords.length, expectedBad, `every bad message once in _errors: ${[...new Set(reasons)].join(' | ')}`)
  assert.equal(stats.errorRecordsCommitted, expectedBad, 'counted')
  assert.equal(output.badRecords.filter((r) => r.value === null).length, 3, 'tombstones')
  assert.equal(count(/too large/), 2, '10 MB values')
  assert.equal(count(/future/), 3)
  assert.equal(count(/notBefore/), 3)
  // the 10 MB values are kept whole in the error output: nothing lost
  const hugeRecords = output.badRecords.filter((r) => /too large/.test(String(r.reason)))
  assert.ok(hugeRecords.every((r) => String(r.value).length > 10 * 1024 * 1024))
})

function tryMount (dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function readLocal (root: string, prefix: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>()
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name)
      if (e.isDirectory()) { if (e.name !== '_sediment') await walk(full); continue }
      if (e.name.startsWith('.')) continue
      for (const line of gunzipSync(await readFile(full)).toString('utf8').split('\n')) {
        if (line === '') continue
        const id = String((JSON.parse(line) as { id?: unknown }).id)
        ids.set(id, (ids.get(id) ?? 0) + 1)
      }
    }
  }
  await walk(join(root, prefix))
  return ids
}

test('local faults: the output disk is full → clear error, nothing committed, nothing lost once there is room', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-full-'))
  if (!tryMount(dir, '256k')) {
    t.skip('cannot mount a tmpfs here (needs root); the disk-full fault is not exercised')
    await rm(dir, { recursive: true, force: true })
    return
  }
  t.after(async () => {
    try { execFileSync('umount', [dir]) } catch {}
    await rm(dir, { recursive: true, force: true })
  })
  const stack = await startStack(t)
  const topic = 'diskfull'
  await stack.kafka.createTopic(topic, 2)
  const messages = sampleMessages({ topic, partitions: 2, count: 20_000, hours: 2 })
  await produce(stack.kafka.bootstrap, topic, messages)
  const out = join(dir, 'out')
  await mkdir(out)
  const config = validateConfig({
    ...serviceConfig(stack, topic, 'diskfull', { upload: { maxFileBytes: 2 * 1024 * 1024, maxFileAgeSeconds: 1 } }),
    sink: { type: 'file', directory: out, prefix: 'logs' },
    log: { level: 'warn' }
  })
  const lines: string[] = []
  const sinkLogger = createLogger({ level: 'warn', destination: { write: (s: string) => { lines.push(s); return true } } as unknown as NodeJS.WritableStream })
  const controller = new AbortController()
  const service = runService(config, { logger: sinkLogger, signal: controller.signal })
  try {
    await waitFor('a disk-full error', 60_000, () => lines.some((l) => l.includes('disk full')))
    const stuck = await committedOffsets(stack, 'diskfull', topic)
    assert.ok([...stuck.values()].reduce((a, b) => a + Math.max(b, 0), 0) < messages.length, 'not everything committed while the disk is full')
    // make room: the retries carry on and everything is committed
    execFileSync('mount', ['-o', 'remount,size=64m', dir])
    await waitFor('everything committed once there is room', 120_000, async () => await allCommitted(stack, 'diskfull', topic), 500)
  } finally {
    controller.abort()
    await service
  }
  const found = await readLocal(out, 'logs')
  const lost = messages.filter((m) => !found.has(m.id as string)).length
  const duplicated = [...found.values()].filter((n) => n > 1).length
  t.diagnostic(`fault=disk-full produced=${messages.length} found=${found.size} lost=${lost} duplicated=${duplicated}`)
  assert.equal(lost, 0)
  assert.equal(duplicated, 0)
})
