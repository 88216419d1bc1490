import type { SkippedRange } from '../types.js'
import { joinKey } from './object-store.js'

/**
 * Object names. Everything is derived from data and offsets, never from the clock or the process, so a
 * consumer that restarts from the last commit regenerates exactly the same data keys.
 *
 *   {prefix}/{topic}/{outputPath}/{generation}_{partition}_{firstOffset:20}{ext}          data
 *   {prefix}/_errors/{topic}/{outputPath}/{generation}_{partition}_{firstOffset:20}{ext}  bad messages
 *   {prefix}/_sediment/intents/{topic}/{partition}/{generation}_{endOffset:20}-{writerId}-{attempt}.json  cut about to commit
 *   {prefix}/_sediment/manifests/{topic}/{partition}/{generation}_{start:20}_{end:20}.json committed cut
 */

export function pad20 (offset: number): string {
  return String(offset).padStart(20, '0')
}

export function dataKey (prefix: string, dir: string, generation: number, partition: number, firstOffset: number, extension: string): string {
  return joinKey(prefix, dir, `${generation}_${partition}_${pad20(firstOffset)}${extension}`)
}

/** Intents carry the generation (two generations may share a prefix); older versions wrote `{endOffset:20}-{writerId}.json`. */
export function intentKey (prefix: string, topic: string, partition: number, generation: number, endOffset: number, writerId: string): string {
  return `${intentDir(prefix, topic, partition)}${generation}_${pad20(endOffset)}-${writerId}.json`
}

export function intentDir (prefix: string, topic: string, partition: number): string {
  return joinKey(prefix, '_sediment', 'intents', topic, String(partition)) + '/'
}

/** Parses an intent's file name (relative to its partition's directory); generation is null for the old form. */
export function parseIntentName (name: string): { generation: number | null, endOffset: number, writerId: string } | null {
  const m = /^(?:(\d+)_)?(\d{20})-([A-Za-z0-9_-]{1,64})\.json$/.exec(name)
  if (m === null) return null
  return { generation: m[1] === undefined ? null : Number(m[1]), endOffset: Number(m[2]), writerId: m[3] as string }
}

export function manifestPrefix (prefix: string, topic?: string): string {
  return joinKey(prefix, '_sediment', 'manifests', topic ?? '') + '/'
}

export function manifestKey (prefix: string, topic: string, partition: number, generation: number, startOffset: number, endOffset: number): string {
  return joinKey(prefix, '_sediment', 'manifests', topic, String(partition), `${generation}_${pad20(startOffset)}_${pad20(endOffset)}.json`)
}

/** One object of a cut, as recorded in the intent and the manifest. */
export interface CutFile {
  key: string
  uploadId: string
  parts: Array<{ partNumber: number, etag: string }>
  firstOffset: number
  lastOffset: number
  records: number
  /** Compressed size = the object's size. */
  bytes: number
  /** Encoded (uncompressed) size. */
  encodedBytes: number
  /** sha256 of the object's bytes, hex. */
  sha256: string
}

/** Written before the commit (intent) and after the objects are visible (manifest); same shape. */
export interface CutRecord {
  version: 1
  topic: string
  partition: number
  generation: number
  /** First offset covered (the previous commit). */
  startOffset: number
  /** The committed offset: next offset to read. */
  endOffset: number
  writerId: string
  files: CutFile[]
  /** Largest event time written in this cut (ms), for watermarks; null when only errors. */
  maxEventTime: number | null
  createdAt: string
  /** Offsets inside [startOffset, endOffset) that retention deleted before they were read (absent: none). */
  skipped?: SkippedRange[]
}

/** What the Kafka commit metadata carries: enough for a new owner to finish a cut whose writer died. */
export interface CommitMetadata {
  v: 1
  /** Intent of the cut this commit made durable. */
  intent: string
  manifest: string
  start: number
  end: number
  /** Event-time watermark of the commit (ms), when known. */
  wm?: number
  /** Wall-clock time of the commit (ms): how long a caught-up partition has been idle (finalizer). Absent in older commits. */
  ct?: number
}

export function encodeMetadata (m: CommitMetadata): string {
  return JSON.stringify(m)
}

/** Returns null for metadata we did not write (another tool's commit, or none). */
export function decodeMetadata (text: string | null): CommitMetadata | null {
  if (text === null || text === '' || text[0] !== '{') return null
  try {
    const m = JSON.parse(text) as Partial<CommitMetadata>
    if (m.v === 1 && typeof m.intent === 'string' && typeof m.manifest === 'string') return m as CommitMetadata
  } catch {}
  return null
}
