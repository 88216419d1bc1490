/**
 * `sediment/service`: what a program needs to run Sediment as the CLI's `run` does — a config from a file (YAML or
 * JSON) or an object, SEDIMENT_* environment overrides, the logger, and the service loop.
 *
 *   const config = await loadConfig('sediment.yaml')
 *   await runService(config, { logger: createLogger(config.log) })
 */
export { runService, createStore, type ServiceOptions } from './service.js'
export { loadConfig } from './config/load.js'
export { validateConfig, applyEnvOverrides } from './config/options.js'
export type { SedimentConfig } from './config/types.js'
export { createLogger } from './logger.js'
