import assert from 'node:assert/strict'
import type { KafkaRecord, ParsedBatch } from '../../../src/types.js'
import { parseStage, type ParseOptions } from '../../../src/stages/parse.js'
import { only, recordBatch, run } from '../helpers.js'

/** 2026-11-20T07:15:00Z */
export const TS = 1_795_158_900_000

export function msg (offset: number, value: string | Buffer | null, extra: { timestamp?: number, headers?: KafkaRecord['headers'] } = {}): KafkaRecord {
  return { offset, key: null, value: typeof value === 'string' ? Buffer.from(value) : value, timestamp: extra.timestamp ?? TS, headers: extra.headers ?? {} }
}

/** Runs the records through a parse stage (bounds off unless given) and returns the one ParsedBatch. */
export async function parseAll (options: ParseOptions, records: KafkaRecord[]): Promise<ParsedBatch> {
  const stage = parseStage({ timestampBounds: { maxFutureSeconds: 0 }, ...options })
  const [batch] = only(await run([recordBatch(records)], stage), 'parsed')
  assert.ok(batch)
  return batch
}

/** [offset, reason] of the bad records. */
export function reasons (batch: ParsedBatch): Array<[number, string]> {
  return batch.bad.map(b => [b.offset, b.reason])
}

/** [offset, timestampMs] of the good records. */
export function times (batch: ParsedBatch): Array<[number, number]> {
  return batch.good.map(r => [r.offset, r.timestampMs])
}
