/** Keyed, headered, timestamped messages for the restore tests, and a full read of a topic to compare with. */
import { Kafka, logLevel, type IHeaders } from 'kafkajs'
import type { Stack } from '../helpers/e2e.js'

export interface Rec {
  key: string | null
  value: string
  headers: Record<string, string | string[]>
  timestamp: string
}

/**
 * Message i of partition p: string, binary (not UTF-8) and null keys; plain, binary and repeated headers. Event
 * times straddle an hour boundary, alternating 6 minutes early and late, so one cut writes two files (two hr=
 * directories) whose offsets interleave: restore must merge them to keep the partition's order.
 */
export function restoreMessages (partitions: number, perPartition: number, baseMs: number): Array<{ partition: number, key: Buffer | null, value: Buffer, headers: IHeaders, timestamp: string }> {
  const out = []
  const boundary = Math.ceil(baseMs / 3_600_000) * 3_600_000
  for (let i = 0; i < perPartition; i++) {
    for (let p = 0; p < partitions; p++) {
      const n = i * partitions + p
      const key = n % 7 === 0 ? null : n % 5 === 0 ? Buffer.from([0xff, 0x00, n & 0xff, 0xfe]) : Buffer.from(`user-${n % 101}`)
      const headers: IHeaders = { trace: `t-${n}` }
      if (n % 3 === 0) headers.bin = Buffer.from([0xc3, 0x28, n & 0xff])
      if (n % 11 === 0) headers.multi = ['a', `b-${n}`]
      // event time (the `ts` field, which the json parser partitions by) differs from the Kafka timestamp
      const ts = boundary - 15 * 60_000 + n * 500 + (n % 2 === 0 ? -6 : 6) * 60_000
      const value = Buffer.from(JSON.stringify({ id: `m-${n}`, ts, pad: 'x'.repeat(60 + (n % 40)), nested: { 'value': n, s: '"value":' } }))
      out.push({ partition: p, key, value, headers, timestamp: String(baseMs - 5000 + n) })
    }
  }
  return out
}

function text (b: Buffer | string | null | undefined): string | null {
  if (b === null || b === undefined) return null
  return typeof b === 'string' ? b : b.toString('base64')
}

/** Every record of the topic, per partition in offset order (reads up to the high watermarks). */
export async function readTopic (stack: Stack, topic: string): Promise<Map<number, Rec[]>> {
  const kafka = new Kafka({ clientId: 'restore-test-reader', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const high = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]))
  await admin.disconnect()
  const out = new Map<number, Rec[]>([...high.keys()].map((p) => [p, []]))
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}` })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    let resolveDone: () => void = () => {}
    const done = new Promise<void>((resolve) => { resolveDone = resolve })
    const complete = (): boolean => [...high].every(([p, h]) => (out.get(p)?.length ?? 0) >= h)
    if (complete()) resolveDone()
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string | string[]> = {}
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = Array.isArray(v) ? v.map((x) => text(x) as string) : text(v) as string
          out.get(batch.partition)?.push({ key: text(m.key), value: m.value?.toString('utf8') ?? '', headers, timestamp: m.timestamp })
        }
        if (complete()) resolveDone()
      }
    })
    const timeout = setTimeout(resolveDone, 60_000)
    await done
    clearTimeout(timeout)
  } finally {
    await consumer.disconnect()
  }
  return out
}
