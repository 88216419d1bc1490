/**
 * The finalizer inside `run` (`finalizer.inRun: true`), on one member of the group only: the one that owns
 * partition 0 of the first topic (sorted by name) — it learns that from the source's 'assignment' events. During
 * a rebalance two members may both believe they own it for a moment; that is harmless, since markers are checked
 * first and every catalog statement is idempotent.
 */
import type { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { SedimentConfig } from '../config/types.js'
import { errorMessage } from '../errors.js'
import type { ObjectStore } from '../sinks/object-store.js'
import type { AssignmentEvent } from '../types.js'
import { connectKafkaOffsets, type KafkaOffsets } from '../verify/kafka-offsets.js'
import { Finalizer, type FinalizeReport } from './finalizer.js'

export interface InRunFinalizerOptions {
  config: SedimentConfig
  store: ObjectStore
  logger: Logger
  /** Default: an admin client for config.kafka. */
  kafka?: KafkaOffsets
  onReport?: (report: FinalizeReport) => void
}

const tp = (topic: string, partition: number): string => `${topic}\u0000${partition}`

export class InRunFinalizer {
  readonly #log: Logger
  readonly #finalizer: Finalizer
  readonly #kafka: KafkaOffsets
  readonly #ownsKafka: boolean
  readonly #stop = new AbortController()
  readonly #done: Promise<void>
  #owned = new Set<string>()
  #wake: (() => void) | undefined

  constructor (options: InRunFinalizerOptions) {
    this.#log = options.logger.child({ component: 'finalizer' })
    this.#ownsKafka = options.kafka === undefined
    this.#kafka = options.kafka ?? connectKafkaOffsets(options.config.kafka, { timeoutMs: 30_000 })
    this.#finalizer = new Finalizer({
      config: options.config,
      store: options.store,
      kafka: this.#kafka,
      logger: options.logger,
      shouldRun: (topics) => topics[0] !== undefined && this.#owned.has(tp(topics[0], 0))
    })
    this.#done = this.#loop(options.onReport)
  }

  /** Follows the assignments of a Kafka source (its 'assignment' events); returns the function that stops following. */
  track (events: EventEmitter): () => void {
    const onAssignment = (e: AssignmentEvent): void => {
      this.#owned = new Set(e.partitions.map((p) => tp(p.topic, p.partition)))
      if (e.partitions.some((p) => p.partition === 0)) this.#wake?.()
    }
    events.on('assignment', onAssignment)
    return () => { events.off('assignment', onAssignment) }
  }

  /** Stops the loop (after a run in progress) and closes what it opened. */
  async stop (): Promise<void> {
    this.#stop.abort()
    this.#wake?.()
    await this.#done
  }

  async #loop (onReport: ((report: FinalizeReport) => void) | undefined): Promise<void> {
    const signal = this.#stop.signal
    const intervalMs = this.#finalizer.settings.intervalSeconds * 1000
    try {
      while (!signal.aborted) {
        // Only members that own a partition 0 ask Kafka for the topic list; the election is in shouldRun.
        if ([...this.#owned].some((k) => k.endsWith('\u00000'))) {
          const report = await this.#finalizer.finalizeOnce()
          if (!report.skipped) onReport?.(report)
        }
        // Sleep until the next round, or until an assignment may have made this member the finalizer.
        const tick = new AbortController()
        const wake = (): void => { tick.abort() }
        this.#wake = wake
        signal.addEventListener('abort', wake, { once: true })
        await sleep(intervalMs, undefined, { signal: tick.signal }).catch(() => {})
        signal.removeEventListener('abort', wake)
        this.#wake = undefined
      }
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'the in-run finalizer stopped')
    } finally {
      await this.#finalizer.close().catch(() => {})
      if (this.#ownsKafka) await this.#kafka.close()
    }
  }
}
