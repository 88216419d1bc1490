import type { FileLayout, OutputGroup } from '../../types.js'

/** A record a format cannot write (e.g. not a JSON object, for csv); it goes to the error output with `reason`. */
export interface Rejected {
  /** Index into the group's offsets/values/records. */
  index: number
  reason: string
}

export interface EncodedRecords {
  /** The group's bytes: uncompressed lines for text formats, or final bytes when `layout` is set. */
  data: Buffer
  /** Records not in `data`, ascending by index. Usually empty. */
  rejected: Rejected[]
  /** Set by formats that assemble files themselves (Parquet); their `data` is already compressed. */
  layout?: FileLayout
  /** Uncompressed size, when `data` is compressed already (default: data's length). */
  encodedBytes?: number
}

/** Encodes the records of one data group (error groups are always JSON lines). */
export interface GroupEncoder {
  /** The file extension before the codec's (`.jsonl`, `.csv`, ...), or the whole extension with a layout. */
  readonly extension: string
  /** True when `encode` returns final bytes with a layout (no chunk compression follows). */
  readonly assembled: boolean
  encode (group: OutputGroup, partition: number): EncodedRecords
}

export const NO_REJECTS: Rejected[] = []
