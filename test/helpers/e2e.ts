/**
 * End-to-end helpers: real servers on loopback (librdkafka mock cluster, s3rver), the real service as a child
 * process, and an independent reading of what landed in the bucket.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { Kafka, logLevel } from 'kafkajs'
import type { SampleMessage } from '../../src/demo/sample-data.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'
import { S3TestServer } from '../../src/testing/s3-server.js'

export const ROOT = new URL('../../', import.meta.url).pathname
export const BUCKET = 'sediment-test'

export interface Stack {
  kafka: MockKafka
  s3: S3TestServer
  s3Client: S3Client
  dir: string
}

export async function startStack (t: TestContext, options: { brokers?: number } = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-e2e-'))
  const kafka = await MockKafka.start({ brokers: options.brokers ?? 1 })
  const s3 = await S3TestServer.start({ buckets: [BUCKET] })
  const s3Client = new S3Client(s3.clientConfig)
  t.after(async () => {
    s3Client.destroy()
    await kafka.stop()
    await s3.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return { kafka, s3, s3Client, dir }
}

/** A service config for the stack; `overrides` are merged per section. */
export function serviceConfig (stack: Stack, topic: string, groupId: string, overrides: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown>> = {
    kafka: { brokers: stack.kafka.bootstrap, groupId, topics: [topic], sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 10000 },
    parser: { type: 'json', timestampField: 'ts' },
    upload: { maxFileBytes: 256 * 1024, maxFileAgeSeconds: 5, partSizeBytes: 5 * 1024 * 1024, uploadOnShutdown: true },
    sink: { type: 's3', bucket: BUCKET, prefix: 'logs', endpoint: stack.s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: stack.s3.clientConfig.credentials },
    log: { level: 'info' }
  }
  for (const [section, values] of Object.entries(overrides)) base[section] = { ...(base[section] ?? {}), ...values }
  return base
}

export async function writeConfig (stack: Stack, name: string, config: Record<string, unknown>): Promise<string> {
  const file = join(stack.dir, `${name}.json`)
  await writeFile(file, JSON.stringify(config, null, 2))
  return file
}

export interface ServiceProcess {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Starts `sediment run --config FILE` as a child process (the same entrypoint as the container). */
export function spawnService (t: TestContext, configFile: string, env: Record<string, string> = {}): ServiceProcess {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'sediment.js'), 'run', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  const keep = (chunk: Buffer): void => { out = (out + chunk.toString('utf8')).slice(-2_000_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
  })
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { child, output: () => out, exited }
}

export async function waitFor (what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

export function kafkaAdmin (stack: Stack) {
  return new Kafka({ clientId: 'sediment-test-admin', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING }).admin()
}

/** Committed offsets of a group (partition → offset; -1 when none). */
export async function committedOffsets (stack: Stack, groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = kafkaAdmin(stack)
  await admin.connect()
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return new Map((t?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  } finally {
    await admin.disconnect()
  }
}

export async function endOffsets (stack: Stack, topic: string): Promise<Map<number, number>> {
  const admin = kafkaAdmin(stack)
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return new Map(offsets.map((p) => [p.partition, Number(p.high)]))
  } finally {
    await admin.disconnect()
  }
}

export async function allCommitted (stack: Stack, groupId: string, topic: string): Promise<boolean> {
  const [committed, end] = await Promise.all([committedOffsets(stack, groupId, topic), endOffsets(stack, topic)])
  for (const [p, high] of end) if (high > 0 && committed.get(p) !== high) return false
  return true
}

export interface Output {
  /** good message id → the directories (below the prefix) it was found in, once per occurrence */
  good: Map<string, string[]>
  /** error records found, keyed by the original bytes (base64) */
  bad: Map<string, number>
  badRecords: Array<Record<string, unknown>>
  objects: string[]
}

/** Every data object under `prefix/` with its bytes (not the protocol's own `_sediment/` objects), in key order. */
export async function dataObjects (stack: Stack, prefix: string): Promise<Array<{ key: string, body: Buffer }>> {
  const out: Array<{ key: string, body: Buffer }> = []
  let token: string | undefined
  do {
    const page = await stack.s3Client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }))
    for (const o of page.Contents ?? []) {
      const key = o.Key as string
      if (key.startsWith(`${prefix}/_sediment/`)) continue
      const object = await stack.s3Client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      out.push({ key, body: Buffer.from(await (object.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()) })
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return out
}

/** Writes the data objects under `prefix/` into `root` (a key's path below the prefix becomes its path below root), for readers like DuckDB; returns the keys. */
export async function downloadData (stack: Stack, prefix: string, root: string): Promise<string[]> {
  const objects = await dataObjects(stack, prefix)
  for (const { key, body } of objects) {
    const file = join(root, ...key.slice(prefix.length + 1).split('/'))
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, body)
  }
  return objects.map(o => o.key)
}

/** Reads every data object under the prefix (not the protocol's own `_sediment/` objects) and indexes records. */
export async function readOutput (stack: Stack, prefix: string): Promise<Output> {
  return indexOutput(await dataObjects(stack, prefix), prefix)
}

/** Indexes the records of JSON-lines data objects (gzip or not) under `prefix/`: good ones by id and directory, bad ones by value. */
export function indexOutput (objects: Iterable<{ key: string, body: Buffer }>, prefix: string): Output {
  const out: Output = { good: new Map(), bad: new Map(), badRecords: [], objects: [] }
  for (const { key, body: raw } of objects) {
    out.objects.push(key)
    const text = (key.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
    const dir = key.slice(prefix.length + 1, key.lastIndexOf('/'))
    for (const line of text.split('\n')) {
      if (line === '') continue
      const rec = JSON.parse(line) as Record<string, unknown>
      if (dir.startsWith('_errors/')) {
        out.badRecords.push(rec)
        const bytes = typeof rec.valueBase64 === 'string' ? Buffer.from(rec.valueBase64, 'base64') : Buffer.from(String(rec.value))
        const k = bytes.toString('base64')
        out.bad.set(k, (out.bad.get(k) ?? 0) + 1)
      } else {
        const id = String(rec.id)
        out.good.set(id, [...(out.good.get(id) ?? []), dir])
      }
    }
  }
  return out
}

export interface Verdict {
  produced: number
  found: number
  lost: number
  duplicated: number
  misplaced: number
  badProduced: number
  badFound: number
  badLost: number
  badDuplicated: number
  examples: string[]
}

/** Compares what was produced with what is in the bucket: each good message once in its dt/hr, each bad once in _errors. */
export function verify (messages: SampleMessage[], output: Output): Verdict {
  const v: Verdict = { produced: 0, found: 0, lost: 0, duplicated: 0, misplaced: 0, badProduced: 0, badFound: 0, badLost: 0, badDuplicated: 0, examples: [] }
  const note = (s: string): void => { if (v.examples.length < 10) v.examples.push(s) }
  for (const m of messages) {
    if (m.id !== undefined) {
      v.produced++
      const dirs = output.good.get(m.id) ?? []
      if (dirs.length === 0) { v.lost++; note(`lost ${m.id}`) }
      if (dirs.length > 1) { v.duplicated++; note(`duplicated ${m.id} x${dirs.length}`) }
      if (dirs.length > 0) v.found++
      if (dirs.some((d) => d !== m.dir)) { v.misplaced++; note(`misplaced ${m.id}: ${dirs.join(',')} expected ${m.dir ?? ''}`) }
    } else {
      v.badProduced++
      const n = output.bad.get((m.value ?? Buffer.alloc(0)).toString('base64')) ?? 0
      if (n === 0) { v.badLost++; note(`bad lost: ${m.bad ?? ''}`) }
      if (n > 1) { v.badDuplicated++; note(`bad duplicated: ${m.bad ?? ''}`) }
      if (n > 0) v.badFound++
    }
  }
  const ids = new Set(messages.map((m) => m.id))
  for (const id of output.good.keys()) if (!ids.has(id)) { v.duplicated++; note(`unexpected ${id}`) }
  return v
}
