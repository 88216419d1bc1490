import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { EncodedBatch, EncodedGroup, KafkaRecord, OutputGroup, ParsedRecord, RoutedBatch } from '../../../src/types.js'

/** A data group whose records carry their Kafka message (as the parsers set it) and no decoded doc. */
export function dataGroup (dir: string, docs: Array<{ offset: number, value: unknown, key?: Buffer | null, headers?: KafkaRecord['headers'], raw?: Buffer }>): OutputGroup {
  const records: ParsedRecord[] = docs.map(({ offset, value, key, headers, raw }) => {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
    const r: ParsedRecord = {
      offset,
      value: bytes,
      timestampMs: 1_795_158_900_000 + offset,
      kafka: { offset, key: key ?? null, value: raw ?? bytes, timestamp: 1_795_158_900_000 + offset, headers: headers ?? {} }
    }
    if (raw !== undefined) r.raw = raw
    return r
  })
  return { dir, errors: false, offsets: records.map(r => r.offset), values: records.map(r => r.value), records }
}

export function errorGroup (dir: string, lines: Array<[number, string]>): OutputGroup {
  return { dir, errors: true, offsets: lines.map(l => l[0]), values: lines.map(l => Buffer.from(l[1])) }
}

export function routed (groups: OutputGroup[], partition = 3): RoutedBatch {
  const offsets = groups.flatMap(g => g.offsets)
  const first = Math.min(...offsets)
  const last = Math.max(...offsets)
  return { kind: 'routed', topic: 't', partition, epoch: 1, firstOffset: first, nextOffset: last + 1, rawBytes: 0, groups }
}

/** The groups of encoded batches by directory, in order. */
export function byDir (batches: EncodedBatch[]): Map<string, EncodedGroup[]> {
  const out = new Map<string, EncodedGroup[]>()
  for (const b of batches) for (const g of b.groups) out.set(g.dir, [...(out.get(g.dir) ?? []), g])
  return out
}

/** Writes the concatenated chunks of each directory as one file below `root` (as the sink would). */
export async function writeFiles (root: string, batches: EncodedBatch[]): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  for (const [dir, groups] of byDir(batches)) {
    const file = join(root, dir, `1_3_${String(groups[0]?.firstOffset).padStart(20, '0')}${groups[0]?.extension ?? ''}`)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, Buffer.concat(groups.map(g => g.data)))
    files.set(dir, file)
  }
  return files
}
