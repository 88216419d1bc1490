/**
 * `run`'s progress line, every `log.progressSeconds` (0 = never), for a person reading the log:
 *   progress: 1,204 records/s, 1.9 MB/s in; lag 3,120 offsets, 42 s; 12 open files; last commit 8 s ago
 * with the same numbers as fields (recordsPerSecond, bytesPerSecond, lagOffsets, lagSeconds, openFiles,
 * bufferedBytes, commits, lastCommitAgeSeconds). Rates are over the interval; lag is what the lag monitor last
 * read (absent when metrics are disabled, since then nothing reads it).
 */
import type { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { SedimentMetrics } from './metrics.js'

/** What the reporter watches of a pipeline incarnation (the KafkaSource and the ObjectSink). */
export interface ProgressParts {
  source: Pick<EventEmitter, 'on'>
  sink: { events: Pick<EventEmitter, 'on'>, stats: () => { openFiles: number, bufferedBytes: number } }
}

export interface ProgressOptions {
  logger: Logger
  intervalSeconds: number
  metrics: Pick<SedimentMetrics, 'lagOffsets' | 'lagSeconds'>
  now?: () => number
}

export interface ProgressFields {
  recordsPerSecond: number
  bytesPerSecond: number
  lagOffsets?: number
  lagSeconds?: number
  openFiles: number
  bufferedBytes: number
  /** Commits (one per committed cut of a partition) in the interval. */
  commits: number
  /** Seconds since the last commit; absent before the first. */
  lastCommitAgeSeconds?: number
}

export class ProgressReporter {
  readonly #o: ProgressOptions
  readonly #log: Logger
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  #sink: ProgressParts['sink'] | undefined
  #since: number
  #records = 0
  #bytes = 0
  #commits = 0
  #lastCommitAt: number | undefined

  constructor (options: ProgressOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'progress' })
    this.#now = options.now ?? Date.now
    this.#since = this.#now()
  }

  start (): void {
    if (this.#o.intervalSeconds <= 0 || this.#timer !== undefined) return
    this.#timer = setInterval(() => { void this.report() }, this.#o.intervalSeconds * 1000)
    this.#timer.unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** For ServiceOptions.onPipeline: watches each pipeline incarnation, then calls `next`. */
  wrap<P extends ProgressParts> (next?: (parts: P) => void): (parts: P) => void {
    return (parts) => {
      this.watch(parts)
      next?.(parts)
    }
  }

  watch ({ source, sink }: ProgressParts): void {
    this.#sink = sink
    source.on('fetch', (f: { messages: number, bytes: number }) => {
      this.#records += f.messages
      this.#bytes += f.bytes
    })
    sink.events.on('commit', () => {
      this.#commits++
      this.#lastCommitAt = this.#now()
    })
  }

  /** Logs one progress line for the time since the previous one, and returns its fields. */
  async report (): Promise<ProgressFields> {
    const now = this.#now()
    const seconds = Math.max((now - this.#since) / 1000, 0.001)
    const stats = this.#sink?.stats() ?? { openFiles: 0, bufferedBytes: 0 }
    const lagOffsets = (await this.#o.metrics.lagOffsets.get()).values
    const lagSeconds = (await this.#o.metrics.lagSeconds.get()).values
    const fields: ProgressFields = {
      recordsPerSecond: Math.round(this.#records / seconds),
      bytesPerSecond: Math.round(this.#bytes / seconds),
      ...(lagOffsets.length > 0 ? { lagOffsets: lagOffsets.reduce((sum, v) => sum + v.value, 0) } : {}),
      ...(lagSeconds.length > 0 ? { lagSeconds: Math.round(Math.max(...lagSeconds.map(v => v.value))) } : {}),
      openFiles: stats.openFiles,
      bufferedBytes: stats.bufferedBytes,
      commits: this.#commits,
      ...(this.#lastCommitAt !== undefined ? { lastCommitAgeSeconds: Math.round((now - this.#lastCommitAt) / 1000) } : {})
    }
    this.#since = now
    this.#records = 0
    this.#bytes = 0
    this.#commits = 0
    this.#log.info(fields, progressMessage(fields))
    return fields
  }
}

export function progressMessage (f: ProgressFields): string {
  const lag = f.lagOffsets === undefined ? 'lag unknown' : `lag ${count(f.lagOffsets)} offsets${f.lagSeconds === undefined ? '' : `, ${count(f.lagSeconds)} s`}`
  const commit = f.lastCommitAgeSeconds === undefined ? 'no commit yet' : `last commit ${count(f.lastCommitAgeSeconds)} s ago`
  return `progress: ${count(f.recordsPerSecond)} records/s, ${rate(f.bytesPerSecond)} in; ${lag}; ${count(f.openFiles)} open files; ${commit}`
}

function count (n: number): string {
  return n.toLocaleString('en-US')
}

function rate (bytesPerSecond: number): string {
  for (const [unit, size] of [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]] as const) {
    if (bytesPerSecond >= size) return `${(bytesPerSecond / size).toFixed(1)} ${unit}/s`
  }
  return `${bytesPerSecond} B/s`
}
