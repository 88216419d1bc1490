import type { OutputGroup } from '../../types.js'
import { NO_REJECTS, type EncodedRecords, type GroupEncoder } from './format.js'
import { kafkaMeta } from './kafka-meta.js'

/** JSON lines of a group: every value followed by '\n', in one buffer allocated at its final size. */
export function frameLines (values: Buffer[]): Buffer {
  let size = values.length
  for (let i = 0; i < values.length; i++) size += (values[i] as Buffer).length
  const out = Buffer.allocUnsafe(size) // every byte is written below
  let pos = 0
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as Buffer
    out.set(value, pos)
    pos += value.length
    out[pos++] = 10
  }
  return out
}

export const jsonLines: GroupEncoder = {
  extension: '.jsonl',
  assembled: false,
  encode: (group) => ({ data: frameLines(group.values), rejected: NO_REJECTS })
}

const CLOSE = Buffer.from('}\n')

/**
 * `output.wrap` for JSON lines: `{"offset":O,"partition":P,"key":K,"timestamp":T,"headers":{...},"value":<record>}`.
 * The record's JSON is spliced in as bytes, not re-serialized.
 */
export const wrappedJsonLines: GroupEncoder = {
  extension: '.jsonl',
  assembled: false,
  encode: (group: OutputGroup, partition: number): EncodedRecords => {
    const { offsets, values, records } = group
    const parts: Buffer[] = []
    let size = 0
    for (let i = 0; i < values.length; i++) {
      const m = kafkaMeta(records?.[i], offsets[i] as number, partition)
      const head = Buffer.from(`{"offset":${m.offset},"partition":${m.partition},"key":${m.key === null ? 'null' : JSON.stringify(m.key)},` +
        `"timestamp":${m.timestamp ?? 'null'},"headers":${m.headersJson},"value":`)
      const value = values[i] as Buffer
      parts.push(head, value, CLOSE)
      size += head.length + value.length + CLOSE.length
    }
    return { data: Buffer.concat(parts, size), rejected: NO_REJECTS }
  }
}
