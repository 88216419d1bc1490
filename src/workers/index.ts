/** The service entry with `workers`: one pipeline in this thread (the default), or N in worker threads. */
import type { SedimentConfig } from '../config/types.js'
import { runService, type ServiceOptions } from '../service.js'
import type { SinkStats } from '../sinks/object-sink.js'
import { resolveWorkers } from './parallelism.js'
import { runWorkers } from './pool.js'

export { resolveWorkers, usableCores, cgroupCpuLimit } from './parallelism.js'

/** Like runService, with `config.workers` pipelines. onPipeline / onLateData are not called for worker threads. */
export async function runSediment (config: SedimentConfig, options: ServiceOptions): Promise<SinkStats> {
  const count = resolveWorkers(config.workers)
  if (count <= 1) return await runService(config, options)
  options.logger.child({ component: 'workers' }).info({ workers: count, setting: config.workers }, 'running pipelines in worker threads')
  return await runWorkers(config, count, options)
}
