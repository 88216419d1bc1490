import { Kafka, logLevel, CompressionTypes } from 'kafkajs'

/** One message to produce, with what a correct run must make of it. */
export interface SampleMessage {
  partition: number
  value: Buffer | null
  /** Kafka record timestamp (ms). */
  timestamp: number
  /** For good messages: the unique id in the JSON and the dt/hr directory it belongs in. */
  id?: string
  dir?: string
  /** For bad messages: the kind of problem. */
  bad?: BadKind
}

export const BadKinds = [
  'not-json', 'truncated-json', 'invalid-utf8', 'missing-timestamp', 'non-numeric-timestamp', 'json-array', 'negative-timestamp'
] as const
export type BadKind = (typeof BadKinds)[number]

const LEVELS = ['info', 'info', 'info', 'warn', 'error', 'debug'] as const
const PATHS = ['/api/orders', '/api/users', '/health', '/api/cart', '/static/app.js'] as const

export interface SampleOptions {
  topic: string
  partitions: number
  /** Good messages in total. */
  count: number
  /** Event times spread over this many hours, starting at `startMs`. */
  hours: number
  startMs?: number
  /** Each bad kind is produced this many times (spread over partitions). 0 = none. */
  badPerKind?: number
  /** Field holding the timestamp; units vary (s, ms, µs, ISO) to exercise the parser. */
  timestampField?: string
}

function hourDir (topic: string, ms: number): string {
  const iso = new Date(ms).toISOString()
  return `${topic}/dt=${iso.slice(0, 10)}/hr=${iso.slice(11, 13)}`
}

/** Deterministic sample web-server logs (good ones with unique ids) plus the seven kinds of bad message. */
export function sampleMessages (options: SampleOptions): SampleMessage[] {
  const start = options.startMs ?? Date.UTC(2026, 10, 20, 0, 0, 0)
  const span = options.hours * 3600_000
  const field = options.timestampField ?? 'ts'
  const out: SampleMessage[] = []
  let seed = 42
  const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
  for (let i = 0; i < options.count; i++) {
    const partition = i % options.partitions
    // roughly increasing time per partition with some disorder, as real producers have
    const ts = Math.floor(start + (i / options.count) * span + (rand() - 0.5) * 120_000)
    const when = Math.min(Math.max(ts, start), start + span - 1)
    const id = `m${i}`
    const stamp: unknown = i % 4 === 0 ? when : i % 4 === 1 ? when / 1000 : i % 4 === 2 ? new Date(when).toISOString() : when * 1000
    const body = {
      id,
      [field]: stamp,
      level: LEVELS[i % LEVELS.length],
      method: i % 3 === 0 ? 'POST' : 'GET',
      path: PATHS[i % PATHS.length],
      status: i % 17 === 0 ? 500 : 200,
      latencyMs: Math.round(rand() * 900),
      msg: i % 50 === 0 ? 'ünïcödé — 日本語 ✓' : 'request served'
    }
    out.push({ partition, value: Buffer.from(JSON.stringify(body)), timestamp: when, id, dir: hourDir(options.topic, when) })
  }
  const perKind = options.badPerKind ?? 0
  for (let n = 0; n < perKind; n++) {
    for (const [k, kind] of BadKinds.entries()) {
      const partition = (n * BadKinds.length + k) % options.partitions
      const timestamp = start + Math.floor(((n * BadKinds.length + k) / (perKind * BadKinds.length)) * span)
      const tag = `bad-${kind}-${n}`
      const value = badValue(kind, tag, field)
      out.push({ partition, value, timestamp, bad: kind })
    }
  }
  return out
}

function badValue (kind: BadKind, tag: string, field: string): Buffer {
  switch (kind) {
    case 'not-json': return Buffer.from(`plain text log line ${tag}`)
    case 'truncated-json': return Buffer.from(`{"id":"${tag}","${field}":1763600000000,"msg":"cut off`)
    case 'invalid-utf8': return Buffer.concat([Buffer.from(`{"id":"${tag}","x":"`), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')])
    case 'missing-timestamp': return Buffer.from(JSON.stringify({ id: tag, msg: 'no time here' }))
    case 'non-numeric-timestamp': return Buffer.from(JSON.stringify({ id: tag, [field]: 'yesterday-ish' }))
    case 'json-array': return Buffer.from(JSON.stringify([tag, 1, 2, 3]))
    case 'negative-timestamp': return Buffer.from(JSON.stringify({ id: tag, [field]: -1763600000 }))
  }
}

/** Produces messages to their partitions in order (acks all, batched). */
export async function produce (brokers: string[], topic: string, messages: SampleMessage[], options: { batchSize?: number } = {}): Promise<void> {
  const kafka = new Kafka({ clientId: 'sediment-sample-producer', brokers, logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const size = options.batchSize ?? 2000
    for (let i = 0; i < messages.length; i += size) {
      const chunk = messages.slice(i, i + size)
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: chunk.map((m) => ({ partition: m.partition, value: m.value, timestamp: String(m.timestamp) }))
      })
    }
  } finally {
    await producer.disconnect()
  }
}
