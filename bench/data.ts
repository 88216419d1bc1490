/**
 * Benchmark data: deterministic web-server-log JSON messages. The same spec always yields the same messages in
 * the same order, so the producer (for the Kafka scenarios) and the in-memory source (stages-only) see the
 * same bytes, and every pipeline of a scenario reads the same data.
 */
import { CompressionTypes, Kafka, logLevel } from 'kafkajs'

export interface DataSpec {
  /** Message shape: ~200 B log lines, or ~10 KB messages with a text body. */
  shape: 'small' | 'large'
  count: number
  partitions: number
  /** Event times: 'ordered' rise with the message index over `hours`; 'scattered' are uniform over `hours`. */
  time: 'ordered' | 'scattered'
  hours: number
  /** Approximate value size of 'large' messages. */
  largeBytes?: number
  seed?: number
}

export interface BenchMessage {
  partition: number
  value: Buffer
}

export const START_MS = Date.UTC(2026, 10, 20, 0, 0, 0)
export const TIMESTAMP_FIELD = 'ts'

const LEVELS = ['info', 'info', 'info', 'info', 'warn', 'error', 'debug'] as const
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'] as const
const PATHS = ['/api/orders', '/api/users', '/api/cart', '/api/search', '/static/app.js', '/health'] as const
const MSGS = ['request served', 'request served', 'cache miss', 'upstream slow', 'not found', 'validation failed'] as const
const WORDS = [
  'the', 'order', 'was', 'shipped', 'to', 'customer', 'after', 'payment', 'confirmed', 'by', 'gateway', 'retry',
  'queue', 'latency', 'exceeded', 'threshold', 'while', 'reading', 'from', 'replica', 'database', 'connection',
  'pool', 'exhausted', 'request', 'handled', 'in', 'region', 'with', 'status', 'code', 'user', 'session', 'token',
  'refreshed', 'cart', 'updated', 'items', 'price', 'discount', 'applied', 'inventory', 'reserved', 'warehouse',
  'north', 'south', 'east', 'west', 'timeout', 'error', 'warning', 'debug', 'trace', 'span', 'parent', 'child',
  'service', 'checkout', 'search', 'index', 'query', 'returned', 'results', 'page', 'next', 'cursor', 'empty'
] as const

/** Mulberry32: a small, fast, deterministic PRNG. */
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

function pick<T> (items: readonly T[], r: number): T {
  return items[Math.floor(r * items.length)] as T
}

const HEX = '0123456789abcdef'

function hex (rand: () => number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += HEX[Math.floor(rand() * 16)]
  return s
}

/** A text corpus of random words; large bodies are slices of it (so they compress like prose, not like repeats). */
function corpus (bytes: number, rand: () => number): string {
  const parts: string[] = []
  let size = 0
  while (size < bytes) {
    const w = pick(WORDS, rand())
    parts.push(w)
    size += w.length + 1
  }
  return parts.join(' ')
}

/** Yields the spec's messages in order (message i goes to partition i mod partitions, like round-robin). */
export function * generate (spec: DataSpec): Generator<BenchMessage> {
  const rand = prng(spec.seed ?? 20261120)
  const span = spec.hours * 3600_000
  const text = spec.shape === 'large' ? corpus(1 << 20, rand) : ''
  const bodyBytes = Math.max(0, (spec.largeBytes ?? 10_240) - 230)
  for (let i = 0; i < spec.count; i++) {
    const ts = spec.time === 'ordered'
      ? START_MS + Math.floor((i / spec.count) * span)
      : START_MS + Math.floor(rand() * span)
    const status = rand() < 0.05 ? 500 : rand() < 0.1 ? 404 : 200
    let json = `{"${TIMESTAMP_FIELD}":${ts},"id":"${String(i).padStart(10, '0')}","level":"${pick(LEVELS, rand())}",` +
      `"host":"web-${String(Math.floor(rand() * 40)).padStart(2, '0')}","method":"${pick(METHODS, rand())}",` +
      `"path":"${pick(PATHS, rand())}/${Math.floor(rand() * 100000)}","status":${status},"latencyMs":${Math.floor(rand() * 900)},` +
      `"trace":"${hex(rand, 16)}","user":"u-${Math.floor(rand() * 1_000_000)}","msg":"${pick(MSGS, rand())}"`
    if (spec.shape === 'large') {
      const from = Math.floor(rand() * (text.length - bodyBytes))
      json += `,"body":"${text.slice(from, from + bodyBytes)}"`
    }
    json += '}'
    yield { partition: i % spec.partitions, value: Buffer.from(json) }
  }
}

/** Value bytes per message, estimated from a sample of the spec (for sizing and the broker limit check). */
export function estimateBytesPerMessage (spec: DataSpec): number {
  const sample = { ...spec, count: Math.min(spec.count, 2000) }
  let bytes = 0
  let n = 0
  for (const m of generate(sample)) { bytes += m.value.length; n++ }
  return n === 0 ? 0 : bytes / n
}

export interface Produced {
  messages: number
  bytes: number
  /** Messages per partition (the end offset of each partition, since the topic is new). */
  perPartition: number[]
  maxPartitionBytes: number
  elapsedMs: number
}

/**
 * Value bytes per produced message set. The mock broker answers a fetch with ONE produced message set per
 * partition (a real broker returns as many as fit in the consumer's maxBytesPerPartition, 1 MiB here), so the
 * size of what is produced in one request per partition is the size of the batches consumers get. ~900 KB of
 * values (plus record overhead) stays under 1 MiB: consumers see full fetches, as from a backlog on real Kafka.
 */
export const DEFAULT_SET_BYTES = 900_000
/** ~31 messages of ~207 B: the fetch size of a consumer that keeps up with live traffic (issue 11's measurement). */
export const LIVE_SET_BYTES = 6_400

/**
 * Produces the spec's messages (uncompressed, acks=1, one partition per request, message sets of ~`setBytes`,
 * several requests in flight) and checks that the broker kept all of them: the mock cluster trims partitions
 * beyond ~5 MiB / 100,000 messages.
 */
export async function produce (
  brokers: string[], topic: string, spec: DataSpec,
  options: { onProgress?: (done: number, bytes: number) => void, deadline?: number, setBytes?: number } = {}
): Promise<Produced> {
  const started = Date.now()
  const kafka = new Kafka({ clientId: 'sediment-bench-producer', brokers, logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  const perPartition = new Array<number>(spec.partitions).fill(0)
  const partitionBytes = new Array<number>(spec.partitions).fill(0)
  let bytes = 0
  let messages = 0
  await producer.connect()
  try {
    const setBytes = options.setBytes ?? DEFAULT_SET_BYTES
    const inFlight = new Set<Promise<void>>()
    const pending: Array<{ messages: Array<{ partition: number, value: Buffer }>, bytes: number }> =
      Array.from({ length: spec.partitions }, () => ({ messages: [], bytes: 0 }))
    const flush = async (partition: number): Promise<void> => {
      const set = pending[partition] as { messages: Array<{ partition: number, value: Buffer }>, bytes: number }
      if (set.messages.length === 0) return
      const toSend = set.messages
      set.messages = []
      set.bytes = 0
      const p: Promise<void> = producer.send({ topic, acks: 1, compression: CompressionTypes.None, messages: toSend })
        .then(() => { inFlight.delete(p) })
      p.catch(() => {}) // surfaced by the race below or the final Promise.all
      inFlight.add(p)
      // small sets (the live scenario: ~32,000 requests per million messages) need more in flight to produce quickly
      if (inFlight.size >= (setBytes < 100_000 ? 32 : 4)) await Promise.race(inFlight)
      options.onProgress?.(messages, bytes)
      if (options.deadline !== undefined && Date.now() > options.deadline) throw new Error(`producing timed out after ${messages} messages`)
    }
    for (const m of generate(spec)) {
      const set = pending[m.partition] as { messages: Array<{ partition: number, value: Buffer }>, bytes: number }
      set.messages.push(m)
      set.bytes += m.value.length
      perPartition[m.partition] = (perPartition[m.partition] ?? 0) + 1
      partitionBytes[m.partition] = (partitionBytes[m.partition] ?? 0) + m.value.length
      bytes += m.value.length
      messages++
      if (set.bytes >= setBytes) await flush(m.partition)
    }
    for (let p = 0; p < spec.partitions; p++) await flush(p)
    await Promise.all(inFlight)
    options.onProgress?.(messages, bytes)
  } finally {
    await producer.disconnect()
  }
  // Verify the broker still has every message (none trimmed by its per-partition size limit).
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    for (const o of offsets) {
      const expected = perPartition[o.partition] ?? 0
      if (Number(o.low) !== 0 || Number(o.high) !== expected) {
        throw new Error(`${topic}[${o.partition}] holds offsets ${o.low}..${o.high}, expected 0..${expected}: the broker trimmed the partition (keep it under ~4 MiB)`)
      }
    }
  } finally {
    await admin.disconnect()
  }
  return { messages, bytes, perPartition, maxPartitionBytes: Math.max(...partitionBytes), elapsedMs: Date.now() - started }
}
