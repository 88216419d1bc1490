import { resolve } from 'node:path'
import type { Logger } from 'pino'
import type { FinalizerConfig, SedimentConfig } from '../../config/types.js'
import { ConfigError } from '../../errors.js'
import { noCatalog, type Catalog } from './catalog.js'
import { GlueCatalog, type GlueCatalogOptions } from './glue.js'
import { HiveCatalog } from './hive.js'
import { QuboleCatalog } from './qubole.js'
import { azureAccountOf } from '../../sinks/azure-options.js'

export { CatalogError, alterTableStatement, noCatalog, tableName, type Catalog, type CatalogPartition } from './catalog.js'
export { GlueCatalog } from './glue.js'
export { HiveCatalog } from './hive.js'
export { QuboleCatalog } from './qubole.js'

export interface CatalogFactoryOptions {
  logger: Logger
  env?: NodeJS.ProcessEnv
  /** Glue only: static credentials instead of the AWS default chain (tests). */
  glueCredentials?: GlueCatalogOptions['credentials']
}

/** The catalog the finalizer config names. */
export function createCatalog (config: SedimentConfig, finalizer: FinalizerConfig, options: CatalogFactoryOptions): Catalog {
  const c = finalizer.catalog
  const logger = options.logger.child({ component: 'catalog' })
  switch (c.type) {
    case 'none':
      return noCatalog
    case 'hive':
      return new HiveCatalog({ command: c.hive?.command ?? [], timeoutMs: (c.hive?.timeoutSeconds ?? 300) * 1000, logger })
    case 'glue':
      return new GlueCatalog({
        region: c.glue?.region ?? config.sink.region,
        ...(c.glue?.endpoint !== undefined ? { endpoint: c.glue.endpoint } : {}),
        ...(c.glue?.catalogId !== undefined ? { catalogId: c.glue.catalogId } : {}),
        ...(options.glueCredentials !== undefined ? { credentials: options.glueCredentials } : {}),
        logger
      })
    case 'qubole': {
      const q = c.qubole
      if (q === undefined) throw new ConfigError('finalizer.catalog.qubole', 'required when finalizer.catalog.type is "qubole"')
      const token = (options.env ?? process.env)[q.tokenEnv]
      if (token === undefined || token === '') {
        throw new ConfigError('finalizer.catalog.qubole.tokenEnv', `environment variable ${q.tokenEnv} (the Qubole API token) is not set`)
      }
      return new QuboleCatalog({ url: q.url, token, pollMs: q.pollSeconds * 1000, timeoutMs: q.timeoutSeconds * 1000, logger })
    }
  }
}

/** Where the objects of a key prefix are, for catalogs: `{locationPrefix or s3://bucket or file://dir}/{key}/`. */
export function locationOf (config: SedimentConfig, finalizer: FinalizerConfig, key: string): string {
  const base = finalizer.catalog.locationPrefix ??
    (config.sink.type === 's3'
      ? `s3://${config.sink.bucket ?? ''}`
      : config.sink.type === 'azure'
        ? `abfss://${config.sink.container ?? new URL(config.sink.containerUrl ?? 'https://x/').pathname.slice(1)}@${azureAccountOf(config.sink) ?? ''}.dfs.core.windows.net`
        : `file://${resolve(config.sink.directory ?? '.')}`)
  return `${base}/${key}/`
}
