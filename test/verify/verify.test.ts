import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { validateConfig } from '../../src/config/options.js'
import type { SedimentConfig } from '../../src/config/types.js'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { createLogger } from '../../src/logger.js'
import { createStore, runService } from '../../src/service.js'
import { decodeMetadata, manifestPrefix, pad20, type CutRecord } from '../../src/sinks/layout.js'
import type { ObjectStore } from '../../src/sinks/object-store.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'
import { connectKafkaOffsets, type KafkaOffsets } from '../../src/verify/kafka-offsets.js'
import { formatJson, formatReport } from '../../src/verify/report.js'
import { verifyOutput, type Finding, type VerifyProgress, type VerifyReport } from '../../src/verify/verify.js'
import { BUCKET, ROOT, serviceConfig, startStack, waitFor } from '../helpers/e2e.js'

const TOPIC = 'weblogs'
const PARTITIONS = 4
const COUNT = 3000

/** Small fetches and small files, so that each partition has several cuts (manifests). */
const SMALL_CUTS = { kafka: { maxBytesPerPartition: 8 * 1024 }, upload: { maxFileBytes: 16 * 1024, maxFileAgeSeconds: 1 }, log: { level: 'warn' } }

/** Produces COUNT good messages (plus one of each bad kind) and runs the service until all are committed. */
async function persist (brokers: string[], config: SedimentConfig, groupId: string): Promise<void> {
  await produce(brokers, TOPIC, sampleMessages({ topic: TOPIC, partitions: PARTITIONS, count: COUNT, hours: 2, badPerKind: 1 }), { batchSize: 100 })
  const controller = new AbortController()
  const service = runService(config, { logger: createLogger({ level: 'warn' }), signal: controller.signal })
  try {
    await waitFor('all offsets committed', 90_000, async () => await committedAll(config, groupId), 500)
  } finally {
    controller.abort()
    await service
  }
}

async function committedAll (config: SedimentConfig, groupId: string): Promise<boolean> {
  const kafka = connectKafkaOffsets(config.kafka)
  try {
    const [committed, marks] = await Promise.all([kafka.committed(groupId, [TOPIC]), kafka.watermarks(TOPIC)])
    return [...marks].every(([p, w]) => committed.get(TOPIC)?.get(p)?.offset === w.high)
  } finally {
    await kafka.close()
  }
}

function only (report: VerifyReport, severity: Finding['severity']): Finding[] {
  return report.findings.filter((f) => f.severity === severity)
}

async function manifestsOf (store: ObjectStore, prefix: string, partition: number): Promise<Array<{ key: string, record: CutRecord }>> {
  const out: Array<{ key: string, record: CutRecord }> = []
  for await (const { key } of store.list(`${manifestPrefix(prefix, TOPIC)}${partition}/`)) {
    out.push({ key, record: JSON.parse(((await store.get(key)) as Buffer).toString('utf8')) as CutRecord })
  }
  return out.sort((a, b) => a.record.startOffset - b.record.startOffset)
}

test('verify against a real run (s3 sink): complete, then each kind of damage is found and named', { timeout: 240_000 }, async (t) => {
  const stack = await startStack(t)
  await stack.kafka.createTopic(TOPIC, PARTITIONS)
  const config = validateConfig(serviceConfig(stack, TOPIC, 'verify', SMALL_CUTS))
  await persist(stack.kafka.bootstrap, config, 'verify')

  const store = createStore(config)
  const kafka = connectKafkaOffsets(config.kafka)
  t.after(async () => { await kafka.close(); await store.close() })
  const progress: VerifyProgress[] = []
  const verify = async (options: { checksums?: boolean, kafka?: KafkaOffsets } = {}): Promise<VerifyReport> =>
    await verifyOutput({ config, store, kafka: options.kafka ?? kafka, checksums: options.checksums ?? true, onProgress: (p) => { progress.push(p) } })
  const s3 = stack.s3Client
  const get = async (key: string): Promise<Buffer> => {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    return Buffer.from(await (out.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
  }
  const put = async (key: string, body: Buffer): Promise<void> => { await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body })) }
  const del = async (key: string): Promise<void> => { await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })) }
  const assertComplete = async (): Promise<void> => {
    const r = await verify()
    assert.equal(r.status, 'complete', formatReport(r))
  }

  const manifests = await manifestsOf(store, 'logs', 1)
  assert.ok(manifests.length >= 3, `several cuts per partition (got ${manifests.length})`)
  const middle = manifests[1] as { key: string, record: CutRecord }
  const lastCut = manifests[manifests.length - 1] as { key: string, record: CutRecord }
  const victim = middle.record.files[0] as CutRecord['files'][number]

  await t.test('a clean run is complete', async () => {
    const r = await verify()
    for (const line of formatReport(r).split('\n')) t.diagnostic(line)
    assert.equal(r.status, 'complete', formatReport(r))
    assert.equal(r.ok, true)
    assert.deepEqual(only(r, 'error'), [])
    assert.equal(r.totals.partitions, PARTITIONS)
    assert.equal(r.totals.records, COUNT + 7)
    assert.equal(r.totals.checksummed, r.totals.objects)
    for (const p of r.partitions) {
      assert.equal(p.status, 'ok')
      assert.equal(p.committed, p.high)
      assert.deepEqual(p.coverage, { start: 0, end: p.high })
      assert.ok(p.manifests >= 3)
    }
    assert.ok(progress.some((p) => p.phase === 'partition' && p.message.startsWith(`${TOPIC}[3]:`)), 'per-partition progress')
    const json = JSON.parse(formatJson(r)) as VerifyReport
    assert.equal(json.status, 'complete')
  })

  await t.test('a deleted object is missing, named by key and offsets', async () => {
    const body = await get(victim.key)
    await del(victim.key)
    const r = await verify()
    assert.equal(r.status, 'incomplete')
    const errors = only(r, 'error')
    assert.equal(errors.length, 1, formatReport(r))
    assert.equal(errors[0]?.kind, 'missing-object')
    assert.equal(errors[0]?.key, victim.key)
    assert.equal(errors[0]?.partition, 1)
    assert.deepEqual(errors[0]?.range, { start: victim.firstOffset, end: victim.lastOffset + 1 })
    assert.match(formatReport(r), new RegExp(`ERROR +${TOPIC}\\[1\\] +missing-object: missing object ${victim.key}`))
    await put(victim.key, body)
    await assertComplete()
  })

  await t.test('a deleted manifest leaves a gap (and orphans its objects)', async () => {
    const body = await get(middle.key)
    await del(middle.key)
    const r = await verify()
    assert.equal(r.status, 'incomplete')
    const gap = r.findings.find((f) => f.kind === 'gap')
    assert.deepEqual({ partition: gap?.partition, range: gap?.range }, { partition: 1, range: { start: middle.record.startOffset, end: middle.record.endOffset } })
    assert.match(formatReport(r), new RegExp(`${TOPIC}\\[1\\] +gap: offsets ${middle.record.startOffset}\\.\\.${middle.record.endOffset} are not covered`))
    const orphans = r.findings.filter((f) => f.kind === 'orphan').map((f) => f.key).sort()
    assert.deepEqual(orphans, middle.record.files.map((f) => f.key).sort())
    await put(middle.key, body)
    await assertComplete()
  })

  await t.test('a deleted last manifest: committed offsets beyond the coverage', async () => {
    const body = await get(lastCut.key)
    await del(lastCut.key)
    const r = await verify()
    assert.equal(r.status, 'incomplete')
    const missing = r.findings.find((f) => f.kind === 'missing-manifest')
    assert.deepEqual({ partition: missing?.partition, range: missing?.range }, { partition: 1, range: { start: lastCut.record.startOffset, end: lastCut.record.endOffset } })
    assert.match(missing?.message ?? '', /the commit names manifest .* which does not exist/)
    await put(lastCut.key, body)
  })

  await t.test('a commit whose intent still exists is pending, not missing', async () => {
    // The state a writer leaves when it dies between the commit (step 3) and the manifest (step 5).
    const committed = (await kafka.committed('verify', [TOPIC])).get(TOPIC)?.get(1)
    const meta = decodeMetadata(committed?.metadata ?? null)
    assert.ok(meta !== null && meta.manifest === lastCut.key)
    const body = await get(lastCut.key)
    await del(lastCut.key)
    await put(meta.intent, body)
    const r = await verify()
    assert.equal(r.status, 'pending', formatReport(r))
    assert.deepEqual(only(r, 'error'), [])
    const pending = only(r, 'pending')
    assert.equal(pending[0]?.kind, 'commit-pending')
    assert.deepEqual(pending[0]?.range, { start: lastCut.record.startOffset, end: lastCut.record.endOffset })
    assert.match(formatReport(r), /commit pending completion/)
    await del(meta.intent)
    await put(lastCut.key, body)
    await assertComplete()
  })

  await t.test('corrupted bytes: a checksum mismatch (sizes alone do not see it)', async () => {
    const body = await get(victim.key)
    const corrupt = Buffer.from(body)
    corrupt[corrupt.length >> 1] = (corrupt[corrupt.length >> 1] ?? 0) ^ 0xff
    await put(victim.key, corrupt)
    const r = await verify()
    const errors = only(r, 'error')
    assert.deepEqual(errors.map((f) => [f.kind, f.key]), [['checksum-mismatch', victim.key]])
    assert.equal((await verify({ checksums: false })).status, 'complete')

    await put(victim.key, body.subarray(1))
    const sized = await verify({ checksums: false })
    assert.deepEqual(only(sized, 'error').map((f) => [f.kind, f.key]), [['size-mismatch', victim.key]])
    await put(victim.key, body)
    await assertComplete()
  })

  await t.test('an extra object is an orphan', async () => {
    const extra = `logs/${TOPIC}/dt=2026-11-20/hr=00/1_3_${'9'.padStart(20, '0')}.jsonl.gz`
    await put(extra, Buffer.from('not ours'))
    const r = await verify()
    assert.deepEqual(only(r, 'error').map((f) => [f.kind, f.key, f.partition]), [['orphan', extra, 3]])
    await del(extra)
    await assertComplete()
  })

  await t.test('objects of a cut committed after the offsets were read are in flight, not orphans', async () => {
    // What a running service shows verify: the cut's objects completed, its intent not yet replaced by a manifest.
    const next = lastCut.record.endOffset
    const extra = `logs/${TOPIC}/dt=2026-11-20/hr=01/1_1_${pad20(next)}.jsonl.gz`
    const intent = `logs/_sediment/intents/${TOPIC}/1/${pad20(next + 10)}-writer.json`
    await put(extra, Buffer.from('in flight'))
    await put(intent, Buffer.from(JSON.stringify({ ...lastCut.record, startOffset: next, endOffset: next + 10, files: [{ ...victim, key: extra }] })))
    const r = await verify()
    assert.equal(r.status, 'complete', formatReport(r))
    assert.ok(r.findings.some((f) => f.kind === 'in-flight'))
    await del(extra)
    await del(intent)
  })

  await t.test('Kafka unreachable: the bucket alone is verified, completeness unconfirmed', async () => {
    const down = connectKafkaOffsets({ ...config.kafka, brokers: ['127.0.0.1:1'], connectionTimeoutMs: 1000 }, { timeoutMs: 15_000 })
    try {
      const r = await verify({ kafka: down })
      assert.equal(r.status, 'unconfirmed', formatReport(r))
      assert.equal(r.kafka.consulted, false)
      assert.notEqual(r.kafka.error, null)
      assert.deepEqual(only(r, 'error'), [])
      assert.match(formatReport(r), /Kafka: UNREACHABLE/)
    } finally {
      await down.close()
    }
  })
})

test('sediment verify (CLI, file sink): exit 0 when complete, 1 after deleting an object', { timeout: 180_000 }, async (t: TestContext) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-verify-cli-'))
  const kafka = await MockKafka.start()
  t.after(async () => {
    await kafka.stop()
    await rm(dir, { recursive: true, force: true })
  })
  await kafka.createTopic(TOPIC, PARTITIONS)
  const raw = {
    kafka: { brokers: kafka.bootstrap, groupId: 'verify-cli', topics: [TOPIC], sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 10000, maxBytesPerPartition: 8 * 1024 },
    parser: { type: 'json', timestampField: 'ts' },
    upload: { maxFileBytes: 16 * 1024, maxFileAgeSeconds: 1 },
    sink: { type: 'file', directory: join(dir, 'out'), prefix: 'archive' },
    log: { level: 'warn' }
  }
  const config = validateConfig(raw)
  await persist(kafka.bootstrap, config, 'verify-cli')
  const configFile = join(dir, 'sediment.json')
  await writeFile(configFile, JSON.stringify(raw))

  const cli = async (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> => await new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'sediment.js'), 'verify', '--config', configFile, ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })

  const clean = await cli()
  assert.equal(clean.code, 0, clean.stdout + clean.stderr)
  assert.match(clean.stdout, /^COMPLETE/m)
  assert.match(clean.stderr, /sediment verify: weblogs\[0\]: /)

  const [first] = await manifestsOf(createStore(config), 'archive', 2)
  const key = first?.record.files[0]?.key as string
  await unlink(join(dir, 'out', ...key.split('/')))
  const broken = await cli('--json')
  assert.equal(broken.code, 1, broken.stderr)
  const report = JSON.parse(broken.stdout) as VerifyReport
  assert.equal(report.status, 'incomplete')
  assert.deepEqual(report.findings.filter((f) => f.severity === 'error').map((f) => [f.kind, f.partition, f.key]), [['missing-object', 2, key]])
})
