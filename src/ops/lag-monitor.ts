/**
 * Consumer lag per Kafka partition, in offsets and in seconds, for the partitions this process owns — so the
 * sum over all processes of a group counts every partition once (an unowned partition, e.g. mid-rebalance or
 * with no process running, is reported by nobody: alert on `up` / absent series too).
 *
 * Both numbers use the group's committed offsets as Kafka stores them (admin OffsetFetch), not this process's
 * memory, so they are right right after a rebalance or restart too:
 *
 *   offsets = end offset (ListOffsets, latest) - committed offset
 *             (no commit yet: end offset - earliest offset, i.e. what the group has never committed)
 *   seconds = newest event time read from the partition - event-time watermark of the last commit
 *             (`wm` in Sediment's commit metadata: the largest event time in the committed cut), at least 0;
 *             exactly 0 when offsets is 0.
 *
 * As Secor's ProgressMonitor did, "seconds" compares the event time of the newest message with that of the
 * last committed one; the newest side comes from what this process has parsed (the largest event time of the
 * batches it read) instead of fetching the last message again. That is exact once the process has read up to
 * the end of the partition, which is the steady state (Sediment reads ahead of its commits by up to a cut's
 * size or age). It under-reports while the process is still reading a backlog (by the event-time span not
 * read yet) and when the newest messages are all bad records (they have no event time). It is absent until
 * both sides are known: after a (re)assignment, until this process has read a batch with a good record; and
 * while no commit of the partition carries a watermark (none yet, or only error records committed so far —
 * the last watermark seen is reused for the latter).
 */
import type { Logger } from 'pino'
import type { KafkaConfig } from '../config/types.js'
import { errorMessage } from '../errors.js'
import { decodeMetadata } from '../sinks/layout.js'
import type { TopicPartition } from '../types.js'
import { connectKafkaOffsets, type CommittedOffset, type KafkaOffsets, type Watermarks } from '../verify/kafka-offsets.js'
import type { SedimentMetrics } from './metrics.js'

export interface LagMonitorOptions {
  kafka: Pick<KafkaConfig, 'brokers' | 'clientId' | 'ssl' | 'sasl' | 'connectionTimeoutMs' | 'groupId'>
  intervalMs: number
  metrics: SedimentMetrics
  logger: Logger
}

export interface PartitionLag extends TopicPartition {
  offsets: number
  /** Undefined when not known (see the header). */
  seconds: number | undefined
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`

export class LagMonitor {
  readonly #o: LagMonitorOptions
  readonly #log: Logger
  readonly #offsets: KafkaOffsets
  #owned = new Map<string, TopicPartition>()
  /** Bumped on every assignment change: a check that started before applies to the current set only. */
  #generation = 0
  /** Largest event time read per partition (ms). */
  readonly #newest = new Map<string, number>()
  /** Last commit watermark seen per partition (ms), for commits without one. */
  readonly #watermarks = new Map<string, number>()
  /** Partitions with series currently exported. */
  readonly #reported = new Map<string, TopicPartition>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #again = false
  #stopped = false
  #failing = false

  constructor (options: LagMonitorOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'lag' })
    // Failures are logged here, once per streak. Short retries: the next check comes soon anyway, and stop()
    // must not wait for a long retry.
    this.#offsets = connectKafkaOffsets(options.kafka, { purpose: 'lag', retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 2 } })
  }

  start (): void {
    this.#schedule(this.#o.intervalMs)
  }

  /** The partitions this process now owns (empty when none, or while no pipeline runs). */
  setAssignment (partitions: TopicPartition[]): void {
    this.#generation++
    this.#owned = new Map(partitions.map((p) => [key(p.topic, p.partition), { topic: p.topic, partition: p.partition }]))
    for (const k of this.#newest.keys()) if (!this.#owned.has(k)) this.#newest.delete(k)
    for (const [k, tp] of this.#reported) if (!this.#owned.has(k)) this.#unreport(k, tp)
    this.#o.metrics.assignedPartitions.set(this.#owned.size)
    // Report a new assignment's lag soon rather than an interval later.
    if (this.#owned.size > 0) this.#schedule(200)
  }

  /** The largest event time of a batch read from the partition (from the parse stage). */
  noteRead (topic: string, partition: number, maxEventTime: number): void {
    const k = key(topic, partition)
    const newest = this.#newest.get(k)
    if (newest === undefined || maxEventTime > newest) this.#newest.set(k, maxEventTime)
  }

  /** One round: reads offsets and updates the gauges. Returns what it reported (for tests and logs). */
  async check (): Promise<PartitionLag[]> {
    const generation = this.#generation
    const owned = [...this.#owned.values()]
    if (owned.length === 0) return []
    const topics = [...new Set(owned.map((p) => p.topic))]
    let ends: Map<string, Map<number, Watermarks>>
    let committed: Map<string, Map<number, CommittedOffset>>
    try {
      const [watermarks, groupOffsets] = await Promise.all([
        Promise.all(topics.map(async (topic) => [topic, await this.#offsets.watermarks(topic)] as const)),
        this.#offsets.committed(this.#o.kafka.groupId, topics)
      ])
      ends = new Map(watermarks)
      committed = groupOffsets
    } catch (err) {
      this.#o.metrics.lagCheckFailures.inc()
      if (!this.#failing && !this.#stopped) this.#log.warn({ err: errorMessage(err) }, 'cannot read offsets for the lag metrics; retrying every interval')
      this.#failing = true
      return []
    }
    if (this.#failing) this.#log.info('reading offsets for the lag metrics works again')
    this.#failing = false
    if (generation !== this.#generation || this.#stopped) return [] // the assignment changed meanwhile
    const result: PartitionLag[] = []
    for (const tp of owned) {
      const k = key(tp.topic, tp.partition)
      const end = ends.get(tp.topic)?.get(tp.partition)
      if (end === undefined) continue
      const c = committed.get(tp.topic)?.get(tp.partition) ?? { offset: null, metadata: null }
      const wm = decodeMetadata(c.metadata)?.wm
      if (wm !== undefined) this.#watermarks.set(k, wm)
      const offsets = Math.max(0, end.high - (c.offset ?? end.low))
      const watermark = this.#watermarks.get(k)
      const newest = this.#newest.get(k)
      const seconds = offsets === 0
        ? 0
        : watermark !== undefined && newest !== undefined ? Math.max(0, newest - watermark) / 1000 : undefined
      const labels = { topic: tp.topic, partition: String(tp.partition) }
      this.#o.metrics.lagOffsets.set(labels, offsets)
      if (seconds === undefined) this.#o.metrics.lagSeconds.remove(labels)
      else this.#o.metrics.lagSeconds.set(labels, seconds)
      this.#reported.set(k, tp)
      result.push({ ...tp, offsets, seconds })
    }
    return result
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    // An in-flight check against an unreachable broker may take a while: do not hold the shutdown for it.
    await Promise.race([this.#running, new Promise((resolve) => setTimeout(resolve, 3000).unref())])
    await this.#offsets.close()
  }

  #unreport (k: string, tp: TopicPartition): void {
    const labels = { topic: tp.topic, partition: String(tp.partition) }
    this.#o.metrics.lagOffsets.remove(labels)
    this.#o.metrics.lagSeconds.remove(labels)
    this.#reported.delete(k)
  }

  #schedule (delayMs: number): void {
    if (this.#stopped) return
    if (this.#running !== undefined) {
      this.#again = true // run once more right after the current check
      return
    }
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#run() }, delayMs)
    this.#timer.unref()
  }

  #run (): void {
    this.#running = this.check().then(() => {}, (err: unknown) => {
      this.#log.warn({ err: errorMessage(err) }, 'lag check failed')
    }).finally(() => {
      this.#running = undefined
      const again = this.#again
      this.#again = false
      this.#schedule(again ? 0 : this.#o.intervalMs)
    })
  }
}
