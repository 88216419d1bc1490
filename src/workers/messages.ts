/** What the main thread and the pipeline worker threads (src/workers/) say to each other. */
import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import type { SedimentConfig } from '../config/types.js'
import type { Readiness } from '../ops/health.js'
import type { SinkStats } from '../sinks/object-sink.js'

export interface WorkerInit {
  config: SedimentConfig
  /** 0-based, in the log lines (`worker`) and OpenTSDB tags. */
  index: number
  count: number
  /** The module to run (worker-thread.ts or .js) and, from TypeScript sources, tsx's loader to register first. */
  entry: string
  tsx?: string
}

export type ToWorker =
  | { type: 'stop' }
  | { type: 'leave' }
  | { type: 'scrape', id: number }

export type FromWorker =
  | { type: 'readiness', readiness: Readiness }
  /** Shutting down: its final cuts are committed; it waits for 'leave' before leaving the group. */
  | { type: 'flushed' }
  | { type: 'scrape', id: number, metrics: Array<MetricObjectWithValues<MetricValue<string>>> }
  | { type: 'done', stats: SinkStats }
  | { type: 'failed', message: string, code?: string, config?: boolean }
