/**
 * AWS Glue Data Catalog: `BatchCreatePartition` through @aws-sdk/client-glue (default credential chain, endpoint
 * configurable). Each partition copies the table's StorageDescriptor (format, SerDe, columns) with its own
 * Location, as Athena and Spark expect; the table is read once per process. A partition that already exists is
 * not an error.
 */
import type { GlueClient, GlueClientConfig, StorageDescriptor, Table } from '@aws-sdk/client-glue'
import type { Logger } from 'pino'
import { errorMessage } from '../../errors.js'
import { CatalogError, byTable, chunks, type Catalog, type CatalogPartition } from './catalog.js'

type GlueModule = typeof import('@aws-sdk/client-glue')
/** Loaded on first use: importing Sediment does not load the Glue client unless a Glue catalog does some work. */
let glueModule: Promise<GlueModule> | undefined
const loadGlue = async (): Promise<GlueModule> => await (glueModule ??= import('@aws-sdk/client-glue'))

export interface GlueCatalogOptions {
  region: string
  endpoint?: string
  /** The AWS account id of the catalog; default: the caller's. */
  catalogId?: string
  /** Static credentials (tests); default: the AWS SDK default chain. */
  credentials?: GlueClientConfig['credentials']
  logger: Logger
}

/** Glue's limit per BatchCreatePartition request. */
const PER_REQUEST = 100

/** For a table without a StorageDescriptor: JSON lines, as Sediment writes them. */
const JSON_LINES: StorageDescriptor = {
  InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
  OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
  SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' }
}

export class GlueCatalog implements Catalog {
  readonly type = 'glue'
  readonly #config: GlueClientConfig
  #client: GlueClient | undefined
  readonly #catalogId: string | undefined
  readonly #log: Logger
  readonly #tables = new Map<string, Promise<Table>>()

  constructor (options: GlueCatalogOptions) {
    this.#config = {
      region: options.region,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {})
    }
    this.#catalogId = options.catalogId
    this.#log = options.logger
  }

  async register (partitions: readonly CatalogPartition[]): Promise<void> {
    const { glue, client } = await this.#glue()
    for (const group of byTable(partitions)) {
      const { database, table } = group[0] as CatalogPartition
      const t = await this.#table(database, table)
      checkPartitionKeys(t, group[0] as CatalogPartition)
      const sd = t.StorageDescriptor ?? JSON_LINES
      for (const chunk of chunks(group, PER_REQUEST)) {
        let out
        try {
          out = await client.send(new glue.BatchCreatePartitionCommand({
            ...this.#id(),
            DatabaseName: database,
            TableName: table,
            PartitionInputList: chunk.map((p) => ({
              Values: p.values.map(([, value]) => value),
              StorageDescriptor: { ...sd, Location: p.location }
            }))
          }))
        } catch (err) {
          throw new CatalogError(`glue: BatchCreatePartition on ${database}.${table} failed: ${errorMessage(err)}`, { cause: err })
        }
        const failed = (out.Errors ?? []).filter((e) => e.ErrorDetail?.ErrorCode !== 'AlreadyExistsException')
        if (failed.length > 0) {
          const first = failed[0]
          throw new CatalogError(`glue: ${failed.length} partition(s) of ${database}.${table} not created, e.g. ` +
            `[${(first?.PartitionValues ?? []).join(', ')}]: ${first?.ErrorDetail?.ErrorCode ?? ''} ${first?.ErrorDetail?.ErrorMessage ?? ''}`.trim())
        }
        const existed = (out.Errors ?? []).length
        this.#log.debug({ database, table, created: chunk.length - existed, existed }, 'glue partitions registered')
      }
    }
  }

  async close (): Promise<void> {
    this.#client?.destroy()
  }

  async #glue (): Promise<{ glue: GlueModule, client: GlueClient }> {
    const glue = await loadGlue()
    this.#client ??= new glue.GlueClient(this.#config)
    return { glue, client: this.#client }
  }

  #id (): { CatalogId?: string } {
    return this.#catalogId === undefined ? {} : { CatalogId: this.#catalogId }
  }

  async #table (database: string, table: string): Promise<Table> {
    const key = `${database}.${table}`
    let t = this.#tables.get(key)
    if (t === undefined) {
      t = (async () => {
        try {
          const { glue, client } = await this.#glue()
          const out = await client.send(new glue.GetTableCommand({ ...this.#id(), DatabaseName: database, Name: table }))
          if (out.Table === undefined) throw new Error('no table in the answer')
          return out.Table
        } catch (err) {
          const hint = (err as { name?: string }).name === 'EntityNotFoundException' ? ' (create the table first, partitioned by the template\'s columns)' : ''
          throw new CatalogError(`glue: reading table ${key} failed: ${errorMessage(err)}${hint}`, { cause: err })
        }
      })()
      this.#tables.set(key, t)
      t.catch(() => { this.#tables.delete(key) }) // retried next time
    }
    return await t
  }
}

/** The table's partition keys must be the template's `name=` columns, in order: otherwise values land in the wrong column. */
function checkPartitionKeys (table: Table, sample: CatalogPartition): void {
  const keys = (table.PartitionKeys ?? []).map((k) => (k.Name ?? '').toLowerCase())
  const names = sample.values.map(([name]) => name.toLowerCase())
  if (keys.length > 0 && keys.join(',') !== names.join(',')) {
    throw new CatalogError(`glue: table ${sample.database}.${sample.table} is partitioned by (${keys.join(', ')}), ` +
      `but the partition template gives (${names.join(', ')})`)
  }
}
