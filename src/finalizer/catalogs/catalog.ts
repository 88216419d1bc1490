/**
 * Where finalized partitions are registered so query engines see them: a Hive metastore through a command
 * (hive.ts), AWS Glue (glue.ts) or Qubole's command API (qubole.ts). Every target is idempotent
 * (`ADD IF NOT EXISTS`, Glue's AlreadyExists), so registering a partition twice is harmless.
 */
import { ErrorCodes, SedimentError } from '../../errors.js'

/** One partition to register. */
export interface CatalogPartition {
  topic: string
  /** Directory below the topic, e.g. `dt=2026-11-20/hr=07`. */
  dir: string
  database: string
  table: string
  /** Partition columns and values, in path order. */
  values: Array<[string, string]>
  /** Where its objects are, with a trailing slash, e.g. `s3://bucket/raw/weblogs/dt=2026-11-20/hr=07/`. */
  location: string
}

export interface Catalog {
  /** For logs: `hive`, `glue`, `qubole`, `none`. */
  readonly type: string
  /** Registers all of them or throws (then none may be assumed registered; retrying is safe). */
  register: (partitions: readonly CatalogPartition[]) => Promise<void>
  close: () => Promise<void>
}

export class CatalogError extends SedimentError {
  constructor (message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.STORE, message, options)
    this.name = 'CatalogError'
  }
}

/** Markers only. */
export const noCatalog: Catalog = {
  type: 'none',
  register: async () => {},
  close: async () => {}
}

/** The table of a topic: `{topic}` in the configured name becomes the topic with non-identifier characters as `_`. */
export function tableName (pattern: string, topic: string): string {
  return pattern.replaceAll('{topic}', topic.replace(/[^A-Za-z0-9_]/g, '_'))
}

/** Groups partitions by database and table, keeping their order. */
export function byTable (partitions: readonly CatalogPartition[]): CatalogPartition[][] {
  const groups = new Map<string, CatalogPartition[]>()
  for (const p of partitions) {
    const k = `${p.database}\u0000${p.table}`
    groups.set(k, [...(groups.get(k) ?? []), p])
  }
  return [...groups.values()]
}

export function chunks<T> (items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * `ALTER TABLE db.t ADD IF NOT EXISTS PARTITION (dt='…', hr='…') LOCATION '…' [PARTITION … LOCATION '…' …]` for
 * partitions of one table (HiveQL; Qubole runs the same). Identifiers are validated names, quoted with backticks.
 */
export function alterTableStatement (partitions: readonly CatalogPartition[]): string {
  const first = partitions[0]
  if (first === undefined) throw new CatalogError('no partitions to register')
  const specs = partitions.map((p) => {
    const values = p.values.map(([name, value]) => `${ident(name)}=${literal(value)}`).join(', ')
    return `PARTITION (${values}) LOCATION ${literal(p.location)}`
  })
  return `ALTER TABLE ${ident(first.database)}.${ident(first.table)} ADD IF NOT EXISTS ${specs.join(' ')}`
}

function ident (name: string): string {
  return `\`${name.replaceAll('`', '``')}\``
}

/** A HiveQL string literal. */
function literal (value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
