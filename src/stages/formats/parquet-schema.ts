import type { ParquetType } from '../../config/types.js'
import { MISSING, compileFieldPath, type FieldGetter } from '../field-path.js'
import { toEpochMillis } from '../timestamp.js'
import { EXTRA_COLUMN, WRAP_COLUMNS } from './names.js'

/**
 * Parquet schemas: every column is OPTIONAL (a missing or null field is a null), flat, PLAIN-encoded.
 *
 * - Configured (`output.parquet.schema`): column name = field path (dots reach into nested objects) → type.
 *   Fields not in the schema are not written: the schema is the projection you asked for.
 * - Inferred: per output directory, from the records of the first group of that directory the encoder sees
 *   (at most INFER_SAMPLE of them): one column per top-level field in first-seen order; booleans → boolean,
 *   integers → int64 (double when any sampled value of the field has a fraction), strings → string, objects and
 *   arrays → json, fields with mixed types or only nulls → json. At most MAX_INFERRED_COLUMNS columns; a field
 *   named "" or like a column the writer adds itself gets none.
 *   Top-level fields of later records that have no column go to `_extra`.
 *
 * Both: a value that does not fit its column's type (see `fit`) is written as null in the column and kept in
 * `_extra`, a JSON object of everything of the record that has no place in a column (null when there is none).
 * So no value is ever dropped silently, and the schema of a file never changes mid-file.
 * With `output.wrap`, the columns kafka_offset, kafka_partition, kafka_key, kafka_timestamp, kafka_headers
 * come first.
 */

export const INFER_SAMPLE = 1000
export const MAX_INFERRED_COLUMNS = 1000

export type Physical = 'BOOLEAN' | 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY'
export type Converted = 'UTF8' | 'JSON' | 'TIMESTAMP_MILLIS'

export interface ParquetColumn {
  name: string
  type: ParquetType
  physical: Physical
  converted?: Converted
  /** Reads the column's value from a record (absent for the columns the writer fills itself). */
  get?: FieldGetter
}

export interface ParquetSchema {
  /** Identifies the schema: chunks of different schemas never share a file. */
  id: string
  columns: ParquetColumn[]
  /** Inferred schemas send top-level fields without a column to `_extra`. */
  inferred: boolean
  wrap: boolean
  /** Top-level field names that have a column (inferred schemas). */
  names: Set<string>
}

const PHYSICAL: Record<ParquetType, [Physical, Converted?]> = {
  string: ['BYTE_ARRAY', 'UTF8'],
  json: ['BYTE_ARRAY', 'JSON'],
  int32: ['INT32'],
  int64: ['INT64'],
  double: ['DOUBLE'],
  float: ['FLOAT'],
  boolean: ['BOOLEAN'],
  timestamp: ['INT64', 'TIMESTAMP_MILLIS']
}

const WRAP_TYPES: Record<(typeof WRAP_COLUMNS)[number], ParquetType> = {
  kafka_offset: 'int64',
  kafka_partition: 'int32',
  kafka_key: 'string',
  kafka_timestamp: 'timestamp',
  kafka_headers: 'json'
}

function column (name: string, type: ParquetType, get?: FieldGetter): ParquetColumn {
  const [physical, converted] = PHYSICAL[type]
  const c: ParquetColumn = { name, type, physical }
  if (converted !== undefined) c.converted = converted
  if (get !== undefined) c.get = get
  return c
}

function build (fields: Array<[string, ParquetType, FieldGetter]>, inferred: boolean, wrap: boolean): ParquetSchema {
  const columns: ParquetColumn[] = []
  if (wrap) for (const name of WRAP_COLUMNS) columns.push(column(name, WRAP_TYPES[name]))
  for (const [name, type, get] of fields) columns.push(column(name, type, get))
  columns.push(column(EXTRA_COLUMN, 'json'))
  return {
    id: JSON.stringify([wrap, inferred, fields.map(([name, type]) => [name, type])]),
    columns,
    inferred,
    wrap,
    names: new Set(fields.map(([name]) => name))
  }
}

export function configuredSchema (schema: Record<string, ParquetType>, wrap: boolean): ParquetSchema {
  return build(Object.entries(schema).map(([path, type]) => [path, type, compileFieldPath(path, `output.parquet.schema.${path}`)]), false, wrap)
}

type Seen = ParquetType | 'null' | 'mixed'

function kind (value: unknown): Seen {
  switch (typeof value) {
    case 'boolean': return 'boolean'
    case 'number': return Number.isSafeInteger(value) ? 'int64' : 'double'
    case 'string': return 'string'
    case 'object': return value === null ? 'null' : 'json'
    default: return 'mixed'
  }
}

function merge (a: Seen, b: Seen): Seen {
  if (a === b || b === 'null') return a
  if (a === 'null') return b
  if ((a === 'int64' && b === 'double') || (a === 'double' && b === 'int64')) return 'double'
  return 'mixed'
}

/** A schema from sample records (see the header comment). */
export function inferSchema (docs: Iterable<Record<string, unknown>>, wrap: boolean): ParquetSchema {
  const seen = new Map<string, Seen>()
  let n = 0
  for (const doc of docs) {
    if (n++ >= INFER_SAMPLE) break
    for (const key of Object.keys(doc)) {
      const known = seen.get(key)
      if (known === undefined) {
        if (seen.size >= MAX_INFERRED_COLUMNS || key === '' || key === EXTRA_COLUMN || (wrap && (WRAP_COLUMNS as readonly string[]).includes(key))) continue
        seen.set(key, kind(doc[key]))
      } else {
        seen.set(key, merge(known, kind(doc[key])))
      }
    }
  }
  const fields: Array<[string, ParquetType, FieldGetter]> = []
  for (const [key, k] of seen) {
    const type: ParquetType = k === 'null' || k === 'mixed' ? 'json' : k
    fields.push([key, type, (doc) => Object.hasOwn(doc, key) ? (doc as Record<string, unknown>)[key] : MISSING])
  }
  return build(fields, true, wrap)
}

/** Returned by `fit` for a value that does not fit the column type. */
export const MISFIT: unique symbol = Symbol('misfit')

const INTEGER_TEXT = /^-?\d{1,16}$/
const FLOAT_MAX = 3.4028234663852886e38
const NUMBER_TEXT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

/**
 * The value as the column stores it (string for BYTE_ARRAY columns, number, boolean), or MISFIT:
 * - string: strings as they are; numbers and booleans as JSON writes them; objects and arrays as JSON text;
 * - json: any value as JSON text;
 * - int64 / int32: integers in range, also written as decimal strings;
 * - double / float: finite numbers (within float range), also written as strings;
 * - boolean: true / false only;
 * - timestamp: what the parser accepts as an event time (seconds, ms, µs or ns by magnitude; ISO-8601), as ms.
 */
export function fit (type: ParquetType, value: unknown): string | number | boolean | typeof MISFIT {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value
      return typeof value === 'object' ? JSON.stringify(value) : String(value)
    case 'json':
      return JSON.stringify(value)
    case 'int64':
    case 'int32': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && INTEGER_TEXT.test(value) ? Number(value) : NaN
      if (!Number.isSafeInteger(n)) return MISFIT
      return type === 'int32' && (n < -2147483648 || n > 2147483647) ? MISFIT : n
    }
    case 'double':
    case 'float': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && NUMBER_TEXT.test(value) ? Number(value) : NaN
      if (!Number.isFinite(n)) return MISFIT
      return type === 'float' && Math.abs(n) > FLOAT_MAX ? MISFIT : n
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : MISFIT
    case 'timestamp': {
      const ms = toEpochMillis(value)
      return typeof ms === 'number' ? ms : MISFIT
    }
  }
}
