import { Readable, Writable, type Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { KafkaRecord, PipelineItem, RecordBatch } from '../../src/types.js'

export function record (offset: number, value: string | Buffer | null, timestamp = 1_795_158_900_000): KafkaRecord {
  return { offset, key: null, value: typeof value === 'string' ? Buffer.from(value) : value, timestamp, headers: {} }
}

export function recordBatch (records: KafkaRecord[], topic = 'events', partition = 3, epoch = 1): RecordBatch {
  const first = records[0]?.offset ?? 0
  const last = records[records.length - 1]?.offset ?? first - 1
  return {
    kind: 'batch',
    topic,
    partition,
    epoch,
    firstOffset: first,
    nextOffset: last + 1,
    rawBytes: records.reduce((n, r) => n + (r.value?.length ?? 0), 0),
    records
  }
}

/** Runs items through the stages with stream/promises pipeline and collects what comes out. */
export async function run (items: PipelineItem[], ...stages: Duplex[]): Promise<PipelineItem[]> {
  const out: PipelineItem[] = []
  const sink = new Writable({
    objectMode: true,
    write (item: PipelineItem, _encoding, callback) {
      out.push(item)
      callback()
    }
  })
  await pipeline([Readable.from(items), ...stages, sink])
  return out
}

export function only<T extends PipelineItem['kind']> (items: PipelineItem[], kind: T): Array<Extract<PipelineItem, { kind: T }>> {
  return items.filter((item): item is Extract<PipelineItem, { kind: T }> => item.kind === kind)
}
