/**
 * Does the Kafka log still continue where the archive left off? Checked per partition on assignment, once the
 * start offset is resolved (committed offset, or the newest manifest's end), against the partition's watermarks:
 *
 *   - start > high watermark: the log holds fewer records than the archive already has. The topic was deleted
 *     and recreated (or the cluster replaced): reading on would skip the new log's first records and later write
 *     object names that collide with the old archive. The partition is stopped (LogReplacedError); the remedy is
 *     a new `generation` and a new consumer group (README, "Recreated topics").
 *   - start < low watermark: retention deleted [start, low) before the group archived it. Those records are
 *     lost; reading resumes at `low` and the hole is recorded (metric, error log, the cut's manifest, verify).
 *
 * A recreated topic that already holds more records than the archive is not detectable from offsets alone.
 */
import { ErrorCodes, SedimentError } from '../errors.js'
import type { SkippedRange, TopicPartition } from '../types.js'

export interface Watermarks {
  /** Log start offset (earliest offset still readable). */
  low: number
  /** High watermark (next offset to be written). */
  high: number
}

export type StartCheck =
  | { kind: 'ok' }
  | { kind: 'expired', skipped: SkippedRange }
  | { kind: 'new-log', start: number, high: number }

/** `start` null: no committed offset and no manifest; the partition starts per autoOffsetReset. */
export function checkStart (start: number | null, w: Watermarks): StartCheck {
  if (start === null) return { kind: 'ok' }
  if (start > w.high) return { kind: 'new-log', start, high: w.high }
  if (start < w.low) return { kind: 'expired', skipped: { from: start, to: w.low } }
  return { kind: 'ok' }
}

/**
 * Offsets missing between what the source expected next and the first offset a fetch returned: only the part
 * below the log start is retention's; offsets the log still spans but did not return were compacted away or
 * were transaction markers / aborted records, which are not losses.
 */
export function expiredBetween (expected: number, first: number, low: number): SkippedRange | null {
  const to = Math.min(first, low)
  return to > expected ? { from: expected, to } : null
}

export class LogReplacedError extends SedimentError {
  readonly topic: string
  readonly partition: number

  constructor (tp: TopicPartition, start: number, high: number) {
    super(ErrorCodes.LOG_REPLACED,
      `${tp.topic}[${tp.partition}]: the archive continues at offset ${start} but the partition ends at ${high}: ` +
      'the topic was deleted and recreated (or the cluster replaced). The partition is stopped so that no record ' +
      'of the new log is skipped and no archived object is overwritten. Archive the new log under a new ' +
      '`generation` with a new consumer group (README: "Recreated topics").')
    this.name = 'LogReplacedError'
    this.topic = tp.topic
    this.partition = tp.partition
  }
}

/** The source's 'skipped' event: offsets lost to retention before they were archived. */
export interface SkippedEvent extends TopicPartition, SkippedRange {}

/** The source's 'stopped' event: a partition this member will not read (see LogReplacedError). */
export interface StoppedEvent extends TopicPartition {
  reason: 'new-log'
  error: LogReplacedError
}
