import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { KafkaRecord, PipelineItem, RecordBatch } from '../../src/types.js'
import { encodeStage, parseStage, partitionStage } from '../../src/stages/index.js'

/**
 * Micro-benchmark, printed and not asserted (timings on shared CI machines are noise): 200k ~200-byte JSON
 * messages through parse → partition → encode. Set SEDIMENT_BENCH_MESSAGES to change the count.
 */
const MESSAGES = Number(process.env.SEDIMENT_BENCH_MESSAGES ?? 200_000)
const PER_BATCH = 2_000
const PARTITIONS = 4
const START = Date.UTC(2026, 10, 20, 6, 30)

function makeBatches (): RecordBatch[] {
  const events = ['page_view', 'click', 'add_to_cart', 'purchase', 'search']
  const batches: RecordBatch[] = []
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  const offsets = new Array<number>(PARTITIONS).fill(0)
  for (let i = 0; i < MESSAGES; i += PER_BATCH) {
    const partition = (i / PER_BATCH) % PARTITIONS
    const records: KafkaRecord[] = []
    let rawBytes = 0
    for (let j = 0; j < PER_BATCH && i + j < MESSAGES; j++) {
      const n = i + j
      // ~2.5 hours of events, slightly out of order.
      const ts = START + Math.floor(n * (9_000_000 / MESSAGES)) - rand(5_000)
      const value = Buffer.from(JSON.stringify({
        ts,
        user: `user-${rand(100_000)}`,
        event: events[rand(events.length)],
        session: rand(2 ** 30).toString(16).padStart(8, '0') + rand(2 ** 30).toString(16).padStart(8, '0'),
        meta: { ip: `10.${rand(256)}.${rand(256)}.${rand(256)}`, ua: 'Mozilla/5.0 (X11; Linux x86_64)', country: 'DE' },
        amount: rand(100_000) / 100,
        tags: ['web', n % 3 === 0 ? 'promo' : 'organic']
      }))
      rawBytes += value.length
      records.push({ offset: offsets[partition]!++, key: null, value, timestamp: ts, headers: {} })
    }
    batches.push({
      kind: 'batch', topic: 'events', partition, epoch: 1,
      firstOffset: records[0]!.offset, nextOffset: records[records.length - 1]!.offset + 1, rawBytes, records
    })
  }
  return batches
}

interface Measurement { seconds: number, cpu: number, outBytes: number, records: number }

async function measure (batches: RecordBatch[], compression: 'gzip' | 'none', level?: number): Promise<Measurement> {
  let outBytes = 0
  let records = 0
  const sink = new Writable({
    objectMode: true,
    highWaterMark: 4,
    write (item: PipelineItem, _encoding, callback) {
      if (item.kind === 'encoded') for (const g of item.groups) { outBytes += g.data.length; records += g.records }
      callback()
    }
  })
  const start = process.hrtime.bigint()
  const cpuStart = process.cpuUsage()
  await pipeline([
    Readable.from(batches),
    parseStage({ type: 'json', timestampField: 'ts' }),
    partitionStage({ template: 'dt={YYYY}-{MM}-{DD}/hr={HH}', timezone: 'UTC' }),
    encodeStage({ format: 'jsonl', compression, compressionLevel: level }),
    sink
  ])
  const cpu = process.cpuUsage(cpuStart)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return { seconds, cpu: (cpu.user + cpu.system) / 1e6 / seconds, outBytes, records }
}

test('throughput: parse → partition → encode', async t => {
  const batches = makeBatches()
  const inBytes = batches.reduce((n, b) => n + b.rawBytes, 0)
  t.diagnostic(`${MESSAGES} messages, ${(inBytes / MESSAGES).toFixed(0)} bytes average, ${(inBytes / 1e6).toFixed(1)} MB`)
  await measure(batches.slice(0, 10), 'gzip', 1) // warm-up
  for (const [compression, level] of [['none', undefined], ['gzip', 1], ['gzip', 6]] as const) {
    const best: Measurement = { seconds: Infinity, cpu: 0, outBytes: 0, records: 0 }
    for (let i = 0; i < 3; i++) {
      const r = await measure(batches, compression, level)
      assert.equal(r.records, MESSAGES)
      if (r.seconds < best.seconds) Object.assign(best, r)
    }
    const label = compression === 'none' ? 'none      ' : `gzip lvl ${level}`
    t.diagnostic(`${label}: ${(inBytes / 1e6 / best.seconds).toFixed(0)} MB/s in, ${(MESSAGES / best.seconds / 1e3).toFixed(0)}k msg/s, ` +
      `${(best.seconds * 1000).toFixed(0)} ms, ratio ${(inBytes / best.outBytes).toFixed(1)}x, ${best.cpu.toFixed(2)} cores busy (best of 3)`)
  }
})
