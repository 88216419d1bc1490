/**
 * The partition finalizer. A time partition (`dt=2026-11-20/hr=07`) of a topic is final when every Kafka partition
 * of the topic vouches for its end (see progress.ts: committed events `delay` past it, or idle for `delay`). Then,
 * oldest first: `_SUCCESS` is written in its directory and it is registered in the configured catalog.
 *
 * Idempotent and stateless: a partition whose marker exists is skipped, so re-running finalizes nothing twice; each
 * run looks back a bounded number of periods from now. If registration fails, the markers of that run are removed
 * again so the next run retries (a process killed between the two leaves a marked, unregistered partition: the
 * catalog statements are idempotent, so registering it by hand or with a wider lookback after deleting the marker
 * is safe). Reads Kafka offsets and commit metadata and HEADs markers; never reads data files.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { defaultFinalizerConfig } from '../config/options.js'
import type { FinalizerConfig, SedimentConfig } from '../config/types.js'
import { ConfigError, errorMessage } from '../errors.js'
import type { ObjectStore } from '../sinks/object-store.js'
import { safeTopicSegment } from '../stages/topic-name.js'
import type { CommittedOffset, KafkaOffsets } from '../verify/kafka-offsets.js'
import { createCatalog, locationOf, tableName, type Catalog, type CatalogPartition } from './catalogs/index.js'
import { Markers, markerKey } from './markers.js'
import { PeriodCalendar, finalizerTemplateProblem, hivePartitionValues, type Period } from './periods.js'
import { completeness, isCaughtUp, partitionProgress, type PartitionProgress } from './progress.js'

export interface FinalizerOptions {
  config: SedimentConfig
  store: ObjectStore
  kafka: KafkaOffsets
  logger: Logger
  /** Default: `config.finalizer`, or the defaults when the config has none. */
  finalizer?: FinalizerConfig
  /** Default: the one `finalizer.catalog` names. */
  catalog?: Catalog
  /** Default: the config's topics, or the cluster's topics matching its topicPattern. */
  topics?: string[]
  /** The clock (tests). */
  now?: () => number
  /** Asked before each run with the topics (sorted); false skips the run (the in-run finalizer's election). */
  shouldRun?: (topics: readonly string[]) => boolean
}

export interface TopicFinalization {
  topic: string
  /** Directories (below the topic) finalized by this run, oldest first. */
  finalized: string[]
  /** Periods ending at or before this instant (ms) are complete; null when none is known to be. */
  completeThrough: number | null
  /** The oldest period of the window that is not final yet, and which Kafka partition holds it back. */
  pending?: { dir: string, reason: string }
  error?: string
}

export interface FinalizeReport {
  ok: boolean
  /** True when shouldRun declined. */
  skipped: boolean
  topics: TopicFinalization[]
  error?: string
}

export class Finalizer {
  readonly #o: FinalizerOptions
  readonly #f: FinalizerConfig
  readonly #log: Logger
  readonly #calendar: PeriodCalendar
  readonly #catalog: Catalog
  readonly #markers: Markers
  readonly #now: () => number
  /** Kafka partitions seen caught up, for commits without a commit time: offset and since when. */
  readonly #caughtUp = new Map<string, { offset: number, since: number }>()

  constructor (options: FinalizerOptions) {
    this.#o = options
    this.#f = options.finalizer ?? options.config.finalizer ?? defaultFinalizerConfig()
    const { template, timezone } = options.config.partition
    const problem = finalizerTemplateProblem(template, this.#f.catalog.type !== 'none')
    if (problem !== undefined) throw new ConfigError('partition.template', `${problem}, got "${template}"`)
    this.#log = options.logger.child({ component: 'finalizer' })
    this.#calendar = new PeriodCalendar(template, timezone)
    this.#catalog = options.catalog ?? createCatalog(options.config, this.#f, { logger: options.logger })
    this.#markers = new Markers(options.store)
    this.#now = options.now ?? Date.now
  }

  get settings (): FinalizerConfig {
    return this.#f
  }

  /** One pass over all topics. Never throws: failures are in the report (and logged). */
  async finalizeOnce (): Promise<FinalizeReport> {
    const now = this.#now()
    let topics: string[]
    try {
      topics = await this.#topics()
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'finalizer: listing topics failed')
      return { ok: false, skipped: false, topics: [], error: errorMessage(err) }
    }
    if (this.#o.shouldRun !== undefined && !this.#o.shouldRun(topics)) return { ok: true, skipped: true, topics: [] }
    let committed
    try {
      committed = await this.#o.kafka.committed(this.#o.config.kafka.groupId, topics)
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'finalizer: reading committed offsets failed')
      return { ok: false, skipped: false, topics: [], error: errorMessage(err) }
    }
    const results: TopicFinalization[] = []
    for (const topic of topics) {
      try {
        results.push(await this.#topic(topic, committed.get(topic), now))
      } catch (err) {
        this.#log.error({ topic, err: errorMessage(err) }, 'finalizing failed; the next run retries')
        results.push({ topic, finalized: [], completeThrough: null, error: errorMessage(err) })
      }
    }
    return { ok: results.every((r) => r.error === undefined), skipped: false, topics: results }
  }

  /** Runs every `intervalSeconds` until `signal` aborts. */
  async watch (signal: AbortSignal, onReport?: (report: FinalizeReport) => void): Promise<void> {
    while (!signal.aborted) {
      onReport?.(await this.finalizeOnce())
      await sleep(this.#f.intervalSeconds * 1000, undefined, { signal }).catch(() => {})
    }
  }

  async close (): Promise<void> {
    await this.#catalog.close()
  }

  async #topics (): Promise<string[]> {
    const { topics, config, kafka } = this.#o
    if (topics !== undefined && topics.length > 0) return [...new Set(topics)].sort()
    if (config.kafka.topics !== undefined) return [...new Set(config.kafka.topics)].sort()
    const pattern = new RegExp(config.kafka.topicPattern ?? '')
    return (await kafka.listTopics()).filter((t) => !t.startsWith('__') && pattern.test(t)).sort()
  }

  async #topic (topic: string, committed: Map<number, CommittedOffset> | undefined, now: number): Promise<TopicFinalization> {
    const marks = await this.#o.kafka.watermarks(topic)
    const progress = [...marks].map(([partition, m]) => this.#track(topic, partitionProgress(partition, m, committed?.get(partition)), now))
    const delayMs = this.#f.delaySeconds * 1000
    const c = completeness(progress, now, delayMs)
    const safeTopic = safeTopicSegment(topic)
    const result: TopicFinalization = { topic, finalized: [], completeThrough: Number.isFinite(c.completeThrough) ? c.completeThrough : null }

    const due: Period[] = []
    for (const period of this.#calendar.periodsEndingBy(now, this.#f.lookbackPeriods, safeTopic)) {
      if (period.endMs > c.completeThrough) {
        result.pending ??= { dir: period.dir, reason: c.limitedBy === undefined ? 'no partitions' : `partition ${c.limitedBy.partition}: ${c.limitedBy.reason}` }
        continue
      }
      if (!(await this.#markers.isMarked(markerKey(this.#prefix, safeTopic, period.dir)))) due.push(period)
    }
    if (due.length === 0) return result

    const marked: string[] = []
    try {
      for (const period of due) {
        const key = markerKey(this.#prefix, safeTopic, period.dir)
        await this.#markers.mark(key)
        marked.push(key)
      }
      await this.#catalog.register(due.map((p) => this.#catalogPartition(topic, safeTopic, p)))
    } catch (err) {
      // Undo, so that the next run finds them unmarked and tries again.
      for (const key of marked) {
        await this.#markers.unmark(key).catch((e: unknown) => {
          this.#log.error({ topic, key, err: errorMessage(e) }, 'could not remove the marker of a partition whose registration failed; register it by hand')
        })
      }
      throw err
    }
    for (const p of due) this.#log.info({ topic, partition: p.dir, catalog: this.#catalog.type }, 'partition finalized')
    result.finalized = due.map((p) => p.dir)
    return result
  }

  get #prefix (): string {
    return this.#o.config.sink.prefix
  }

  #catalogPartition (topic: string, safeTopic: string, period: Period): CatalogPartition {
    const c = this.#f.catalog
    return {
      topic,
      dir: period.dir,
      database: c.database,
      table: tableName(c.table, topic),
      values: hivePartitionValues(period.dir),
      location: locationOf(this.#o.config, this.#f, markerKey(this.#prefix, safeTopic, period.dir).slice(0, -'/_SUCCESS'.length))
    }
  }

  /** Remembers since when a partition without commit time has been caught up at the same offset. */
  #track (topic: string, p: PartitionProgress, now: number): PartitionProgress {
    const key = `${topic}\u0000${p.partition}`
    if (!isCaughtUp(p) || p.ct !== undefined) {
      this.#caughtUp.delete(key)
      return p
    }
    const offset = p.committed ?? p.high
    const seen = this.#caughtUp.get(key)
    if (seen === undefined || seen.offset !== offset) {
      this.#caughtUp.set(key, { offset, since: now })
      return p
    }
    return { ...p, caughtUpSince: seen.since }
  }
}
