/**
 * What `run` does for the finalizer when `config.finalizer` is set: count late data (late-data.ts) and, with
 * `inRun`, finalize on one member (in-run.ts). Kept here so that service.ts only plugs it in.
 */
import type { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { SedimentConfig } from '../config/types.js'
import type { ObjectStore } from '../sinks/object-store.js'
import { InRunFinalizer } from './in-run.js'
import { LateDataMonitor } from './late-data.js'

export interface FinalizerHooks {
  /** Counts late records; undefined without a finalizer config. */
  late: LateDataMonitor | undefined
  /** Wraps a service's onPipeline so that each new pipeline is followed (commits of the sink, assignments of the source). */
  wrap: <P extends { source: EventEmitter, sink: { events: EventEmitter } }>(onPipeline?: (parts: P) => void) => (parts: P) => void
  /** Stops the in-run finalizer (before the store is closed). */
  stop: () => Promise<void>
}

export function finalizerHooks (config: SedimentConfig, store: ObjectStore, logger: Logger): FinalizerHooks {
  const f = config.finalizer
  const late = f === undefined
    ? undefined
    : new LateDataMonitor({
      store,
      prefix: config.sink.prefix,
      template: config.partition.template,
      timezone: config.partition.timezone,
      delaySeconds: f.delaySeconds,
      logger
    })
  const inRun = f?.inRun === true ? new InRunFinalizer({ config, store, logger }) : undefined
  return {
    late,
    wrap: (onPipeline) => (parts) => {
      late?.attach(parts.sink.events)
      inRun?.track(parts.source)
      onPipeline?.(parts)
    },
    stop: async () => { await inRun?.stop() }
  }
}
