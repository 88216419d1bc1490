import { ErrorCodes, SedimentError } from '../errors.js'
import { plainRecord, wrappedRecord, type RecordDecoder } from './decode.js'
import type { Framing } from './split.js'

/** How the records of one archived object are read back. */
export interface ObjectFormat {
  framing: Framing
  decode: RecordDecoder
  /** The archive carries key, headers, timestamp and offset (`output.wrap` JSON lines). */
  wrapped: boolean
}

/**
 * The format of an object, from its key's extension (`.jsonl`, `.txt`, `.bin`, then `.gz`/`.zst`), and whether
 * JSON lines are wrapped (output.wrap; not visible in the key). Formats that do not hold the message refuse.
 */
export function objectFormat (key: string, wrap: boolean): ObjectFormat {
  const base = key.replace(/\.(gz|zst)$/, '')
  if (base.endsWith('.jsonl')) return wrap ? { framing: 'newline', decode: wrappedRecord, wrapped: true } : { framing: 'newline', decode: plainRecord, wrapped: false }
  if (base.endsWith('.txt')) return { framing: 'newline', decode: plainRecord, wrapped: false }
  if (base.endsWith('.bin')) return { framing: 'length-prefixed', decode: plainRecord, wrapped: false }
  if (base.endsWith('.csv')) {
    throw new SedimentError(ErrorCodes.CONFIG, `restore: ${key} is csv: it holds the configured columns, not the messages, so they cannot be rebuilt`)
  }
  if (base.endsWith('.parquet')) {
    throw new SedimentError(ErrorCodes.CONFIG, `restore: ${key} is Parquet, which restore does not read yet (archive as jsonl with output.wrap to restore)`)
  }
  throw new SedimentError(ErrorCodes.CONFIG, `restore: ${key}: unknown object format`)
}

export const LOSSY_FORMAT = 'does not carry Kafka keys, headers or timestamps (only JSON lines with output.wrap do); ' +
  'pass --values-only (valuesOnly: true) to restore the values alone, timestamped at produce time'
