import { ConfigError } from '../errors.js'

/**
 * Items buffered on each side of a stage. One item is a whole batch (up to thousands of records), so the Node
 * default of 16 objects per side would hold a lot of memory across a chain of stages; a few suffice to keep
 * every stage busy.
 */
export const DEFAULT_STAGE_HIGH_WATER_MARK = 4

export interface StageStreamOptions {
  /** Batches buffered on each side of the stage (default 4). */
  highWaterMark?: number
}

export function stageHighWaterMark (options: StageStreamOptions, configPath: string): number {
  const hwm = options.highWaterMark ?? DEFAULT_STAGE_HIGH_WATER_MARK
  if (!Number.isInteger(hwm) || hwm < 1) throw new ConfigError(configPath, `highWaterMark must be an integer >= 1, got ${String(hwm)}`)
  return hwm
}
