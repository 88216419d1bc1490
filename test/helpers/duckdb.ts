/**
 * Reading outputs back with a real reader: DuckDB (in process, offline; its json and parquet readers are built
 * in). Values come back JSON-safe (BIGINT as strings, timestamps as text), which keeps comparisons exact.
 */
import type { TestContext } from 'node:test'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'

export interface Duck {
  /** Rows of a query as plain objects. */
  rows: (sql: string) => Promise<Array<Record<string, unknown>>>
}

export async function openDuck (t: TestContext): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' })
  const connection: DuckDBConnection = await instance.connect()
  t.after(() => {
    connection.closeSync()
    instance.closeSync()
  })
  return {
    rows: async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>
  }
}

/** A string literal for SQL. */
export function sqlString (s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}
