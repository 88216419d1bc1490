/**
 * Qubole (the seed's integration): its command API over HTTP. The `ALTER TABLE … ADD IF NOT EXISTS PARTITION`
 * statement is submitted as a HiveCommand (`POST {url}/api/v1.2/commands`, header X-AUTH-TOKEN), then the command
 * is polled (`GET {url}/api/v1.2/commands/{id}`) until Qubole reports it done: commands run asynchronously there.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { errorMessage } from '../../errors.js'
import { CatalogError, alterTableStatement, byTable, chunks, type Catalog, type CatalogPartition } from './catalog.js'

export interface QuboleCatalogOptions {
  /** API base URL, e.g. `https://api.qubole.com`. */
  url: string
  /** The API token (never logged). */
  token: string
  pollMs: number
  timeoutMs: number
  logger: Logger
}

interface CommandStatus {
  id?: number | string
  status?: string
}

const PER_STATEMENT = 100
const REQUEST_TIMEOUT_MS = 30_000
const FAILED = new Set(['error', 'cancelled', 'failed'])

export class QuboleCatalog implements Catalog {
  readonly type = 'qubole'
  readonly #o: QuboleCatalogOptions
  readonly #base: string

  constructor (options: QuboleCatalogOptions) {
    this.#o = options
    this.#base = `${options.url.replace(/\/+$/, '')}/api/v1.2/commands`
  }

  async register (partitions: readonly CatalogPartition[]): Promise<void> {
    for (const table of byTable(partitions)) {
      for (const chunk of chunks(table, PER_STATEMENT)) await this.#run(alterTableStatement(chunk))
    }
  }

  async close (): Promise<void> {}

  async #run (query: string): Promise<void> {
    const deadline = Date.now() + this.#o.timeoutMs
    let command = await this.#request('POST', this.#base, { command_type: 'HiveCommand', query })
    this.#o.logger.debug({ id: command.id, status: command.status }, 'qubole command submitted')
    while (command.status !== 'done') {
      if (FAILED.has(command.status ?? '')) throw new CatalogError(`qubole: command ${String(command.id)} ended with status ${String(command.status)}`)
      if (command.id === undefined) throw new CatalogError(`qubole: the answer has no command id (status ${String(command.status)})`)
      if (Date.now() > deadline) throw new CatalogError(`qubole: command ${String(command.id)} not done after ${this.#o.timeoutMs} ms (status ${String(command.status)})`)
      await sleep(this.#o.pollMs)
      command = await this.#request('GET', `${this.#base}/${encodeURIComponent(String(command.id))}`)
    }
  }

  async #request (method: 'GET' | 'POST', url: string, body?: unknown): Promise<CommandStatus> {
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers: {
          'X-AUTH-TOKEN': this.#o.token,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' })
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
    } catch (err) {
      throw new CatalogError(`qubole: ${method} ${url} failed: ${errorMessage(err)}`, { cause: err })
    }
    const text = await res.text()
    if (!res.ok) throw new CatalogError(`qubole: ${method} ${url} answered ${res.status}: ${text.slice(0, 300)}`)
    try {
      return JSON.parse(text) as CommandStatus
    } catch {
      throw new CatalogError(`qubole: ${method} ${url} answered with something other than JSON: ${text.slice(0, 300)}`)
    }
  }
}
