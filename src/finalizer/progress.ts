/**
 * How far a topic is complete, from Kafka alone: the group's committed offsets with their commit metadata (the
 * event-time watermark `wm` and commit time `ct` of the last cut, see sinks/layout.ts) and the end offsets.
 * No data file is read.
 *
 * A Kafka partition vouches for every period ending at or before:
 * - `wm - delay` — it committed a cut holding an event `delay` past the period's end. `wm` is the largest event
 *   time of the *last* cut only; a lower value after a higher one (a replay, a cut of stragglers) just delays
 *   finalization. Records older than `wm - delay` that arrive later are late data (counted, still written);
 * - `now - delay` — when it is idle: everything up to its end offset is committed and nothing has been committed
 *   for longer than `delay` (commit time `ct`, or, for commits without `ct`, since this process first saw it so).
 *   An empty partition is idle. The cap at the wall clock keeps an idle topic from finalizing the current period.
 * A partition with uncommitted records and no watermark vouches for nothing. A topic is complete through the
 * minimum over its partitions.
 */
import { decodeMetadata } from '../sinks/layout.js'
import type { CommittedOffset, Watermarks } from '../verify/kafka-offsets.js'

export interface PartitionProgress {
  partition: number
  /** Next offset the group reads, or null without a commit. */
  committed: number | null
  low: number
  high: number
  /** Event-time watermark of the last commit (ms). */
  wm?: number
  /** Wall-clock time of the last commit (ms). */
  ct?: number
  /** When this process first saw the partition caught up at its current offset (for commits without `ct`). */
  caughtUpSince?: number
}

export interface Completeness {
  /** Periods ending at or before this instant (UTC ms) are complete; -Infinity when none is known to be. */
  completeThrough: number
  /** The partition that holds it back, and why (for logs and the report). */
  limitedBy?: { partition: number, reason: string }
}

export function partitionProgress (partition: number, marks: Watermarks, committed: CommittedOffset | undefined): PartitionProgress {
  const p: PartitionProgress = { partition, committed: committed?.offset ?? null, low: marks.low, high: marks.high }
  const meta = decodeMetadata(committed?.metadata ?? null)
  if (typeof meta?.wm === 'number' && Number.isFinite(meta.wm)) p.wm = meta.wm
  if (typeof meta?.ct === 'number' && Number.isFinite(meta.ct)) p.ct = meta.ct
  return p
}

/** Nothing left to consume: committed up to the end offset, or an empty partition never committed. */
export function isCaughtUp (p: PartitionProgress): boolean {
  return p.committed === null ? p.high <= p.low : p.committed >= p.high
}

export function completeness (partitions: readonly PartitionProgress[], now: number, delayMs: number): Completeness {
  let result: Completeness = { completeThrough: Infinity }
  for (const p of partitions) {
    let through = p.wm === undefined ? -Infinity : p.wm - delayMs
    let reason = p.wm === undefined ? 'no event-time watermark committed yet' : `watermark ${iso(p.wm)}`
    if (isCaughtUp(p)) {
      const since = p.committed === null ? -Infinity : (p.ct ?? p.caughtUpSince)
      if (since !== undefined && now - since > delayMs) {
        through = Math.max(through, now - delayMs)
        reason = 'idle'
      } else {
        reason += since === undefined ? '; caught up, idle time unknown' : `; caught up, last commit ${iso(since)}`
      }
    } else {
      reason += `; ${p.committed === null ? p.high - p.low : p.high - p.committed} records not committed`
    }
    if (through < result.completeThrough) result = { completeThrough: through, limitedBy: { partition: p.partition, reason } }
  }
  if (partitions.length === 0) return { completeThrough: -Infinity }
  return result
}

function iso (ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms)
}
