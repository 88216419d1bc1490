/**
 * Hive DDL hook: runs a configured command (e.g. `beeline -u jdbc:hive2://… -e {sql}`) with the
 * `ALTER TABLE … ADD IF NOT EXISTS PARTITION …` statement. `{sql}` in an argument is replaced by the statement;
 * without one, the statement is the last argument. No shell is involved, so the statement needs no quoting.
 */
import { execFile } from 'node:child_process'
import type { Logger } from 'pino'
import { CatalogError, alterTableStatement, byTable, chunks, type Catalog, type CatalogPartition } from './catalog.js'

export interface HiveCatalogOptions {
  /** argv: program and arguments. */
  command: readonly string[]
  timeoutMs: number
  logger: Logger
}

/** Partitions per statement: keeps a command line well below ARG_MAX. */
const PER_STATEMENT = 100

export class HiveCatalog implements Catalog {
  readonly type = 'hive'
  readonly #o: HiveCatalogOptions

  constructor (options: HiveCatalogOptions) {
    if (options.command.length === 0) throw new CatalogError('hive: the command is empty')
    this.#o = options
  }

  async register (partitions: readonly CatalogPartition[]): Promise<void> {
    for (const table of byTable(partitions)) {
      for (const chunk of chunks(table, PER_STATEMENT)) await this.#run(alterTableStatement(chunk))
    }
  }

  async close (): Promise<void> {}

  /** The argv for one statement. */
  argv (sql: string): string[] {
    const args = this.#o.command.map((a) => a.replaceAll('{sql}', sql))
    if (!this.#o.command.some((a) => a.includes('{sql}'))) args.push(sql)
    return args
  }

  async #run (sql: string): Promise<void> {
    const [program, ...args] = this.argv(sql) as [string, ...string[]]
    // Only the program is logged: arguments may carry a password (better passed through the environment).
    this.#o.logger.debug({ program, sql }, 'running the hive command')
    await new Promise<void>((resolve, reject) => {
      execFile(program, args, { timeout: this.#o.timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
        if (err === null) {
          resolve()
          return
        }
        const tail = String(stderr).trim().slice(-500)
        // Not err.message: it repeats the whole command line.
        const code = (err as { code?: unknown }).code
        const how = err.killed
          ? `timed out after ${this.#o.timeoutMs} ms`
          : typeof code === 'number' ? `exited with code ${code}` : `could not be run (${String(code ?? err.name)})`
        reject(new CatalogError(`hive: ${program} ${how}${tail === '' ? '' : `: ${tail}`}`))
      })
    })
  }
}
