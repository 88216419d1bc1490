import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ConfigError, errorMessage } from '../../errors.js'

/**
 * A Confluent-compatible schema registry client for reading: `GET {url}/schemas/ids/{id}` →
 * `{"schema": "<schema JSON as a string>", "schemaType"?: "AVRO"}`. A schema, once fetched, is cached (ids are
 * immutable in a registry).
 *
 * The cache is bounded (`maxSchemas`, least recently used forgotten first; a forgotten id is fetched again when it
 * shows up), and never forgets an id of the batch being parsed.
 *
 * Failure policy:
 * - a definite answer about an id — 404 (no such id), a schema that is not Avro or does not compile — is cached
 *   as a reason for `failureTtlMs` (default 60 s): messages with that id become error records (their bytes kept),
 *   and the id is asked again after that (a 404 may be transient: a schema registered a moment ago, a registry
 *   replica behind its leader);
 * - anything else — connection refused, timeout, 5xx, 429, 401/403, a response that is not the registry's JSON —
 *   is the registry being unavailable, not the message being bad: the fetch is retried with exponential backoff
 *   (0.25 s doubling to 30 s) for as long as it takes, and the batch waits (the pipeline backs up and the
 *   consumer pauses; nothing is committed meanwhile). Turning every message into an error record during a
 *   registry outage would bury good data in `_errors/`. An aborted `signal` (shutdown) ends the retries.
 */
export interface SchemaRegistryOptions<T> {
  url: string
  /** Compiles a fetched schema (parsed JSON); throws for an unusable schema (a definite failure). */
  compile: (schema: unknown) => T
  logger?: Logger
  signal?: AbortSignal
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number
  /** First retry delay (default 250 ms); doubles up to maxRetryDelayMs (default 30 s). */
  retryDelayMs?: number
  maxRetryDelayMs?: number
  /** Ids remembered, schemas and failures (default 1000); the least recently used is forgotten first. */
  maxSchemas?: number
  /** How long a definite failure (404, unusable schema) is remembered before the id is asked again (default 60 s). */
  failureTtlMs?: number
  /** Clock for failure expiry (default Date.now; tests inject one). */
  now?: () => number
}

export const DEFAULT_MAX_SCHEMAS = 1000
export const DEFAULT_FAILURE_TTL_MS = 60_000

export class SchemaRegistry<T> {
  /** Without credentials, so it can be logged. */
  readonly #base: string
  readonly #authorization: string | undefined
  readonly #compile: (schema: unknown) => T
  readonly #logger: Logger | undefined
  readonly #signal: AbortSignal | undefined
  readonly #timeoutMs: number
  readonly #retryDelayMs: number
  readonly #maxRetryDelayMs: number
  readonly #maxSchemas: number
  readonly #failureTtlMs: number
  readonly #now: () => number
  /** id → compiled schema, or the reason it cannot be used; in order of last use (oldest first). */
  readonly #known = new Map<number, T | SchemaFailure>()
  /** When each cached failure stops counting. */
  readonly #failedUntil = new Map<number, number>()
  readonly #inFlight = new Map<number, Promise<void>>()
  /** HTTP requests made (tests check that ids are fetched once). */
  requests = 0

  constructor (options: SchemaRegistryOptions<T>) {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      url = new URL('invalid:')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError('parser.avro.registryUrl', 'must be an http:// or https:// URL')
    }
    // fetch() refuses URLs with credentials: they become a Basic authorization header.
    if (url.username !== '' || url.password !== '') {
      this.#authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      url.username = ''
      url.password = ''
    }
    this.#base = url.href.replace(/\/+$/, '')
    this.#compile = options.compile
    this.#logger = options.logger
    this.#signal = options.signal
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#retryDelayMs = options.retryDelayMs ?? 250
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000
    this.#maxSchemas = options.maxSchemas ?? DEFAULT_MAX_SCHEMAS
    if (!Number.isSafeInteger(this.#maxSchemas) || this.#maxSchemas < 1) throw new RangeError(`maxSchemas must be an integer >= 1, got ${String(options.maxSchemas)}`)
    this.#failureTtlMs = options.failureTtlMs ?? DEFAULT_FAILURE_TTL_MS
    this.#now = options.now ?? Date.now
  }

  /** Ids cached (schemas and failures). */
  get size (): number {
    return this.#known.size
  }

  /** The compiled schema, a SchemaFailure (definite), or undefined when not fetched yet. */
  get (id: number): T | SchemaFailure | undefined {
    return this.#known.get(id)
  }

  /**
   * Makes `get` answer for every id of one batch: marks the cached ones as used, fetches those not cached or whose
   * failure has expired (each once, also across concurrent calls), then forgets the least recently used ids beyond
   * `maxSchemas` — never one of `ids`, so that the batch parsed next finds all of its own. Returns undefined when
   * nothing has to be fetched; the promise rejects only when aborted.
   */
  prepare (ids: ReadonlySet<number>): Promise<void> | undefined {
    let missing: number[] | undefined
    const now = this.#now()
    for (const id of ids) {
      const known = this.#known.get(id)
      if (known !== undefined && !(known instanceof SchemaFailure && now >= (this.#failedUntil.get(id) ?? 0))) {
        this.#known.delete(id) // most recently used goes last
        this.#known.set(id, known)
      } else {
        (missing ??= []).push(id)
      }
    }
    if (missing === undefined) {
      this.#evict(ids)
      return undefined
    }
    return this.fetch(missing).then(() => { this.#evict(ids) })
  }

  /** Fetches the ids not cached yet or whose failure expired (each once, also across concurrent calls). Rejects only when aborted. */
  async fetch (ids: Iterable<number>): Promise<void> {
    const waits: Array<Promise<void>> = []
    const now = this.#now()
    for (const id of ids) {
      const known = this.#known.get(id)
      if (known !== undefined && !(known instanceof SchemaFailure && now >= (this.#failedUntil.get(id) ?? 0))) continue
      let wait = this.#inFlight.get(id)
      if (wait === undefined) {
        wait = this.#fetchWithRetry(id).finally(() => this.#inFlight.delete(id))
        this.#inFlight.set(id, wait)
      }
      waits.push(wait)
    }
    await Promise.all(waits)
  }

  #evict (keep: ReadonlySet<number>): void {
    if (this.#known.size <= this.#maxSchemas) return
    for (const id of this.#known.keys()) {
      if (this.#known.size <= this.#maxSchemas) break
      if (keep.has(id)) continue
      this.#known.delete(id)
      this.#failedUntil.delete(id)
    }
  }

  async #fetchWithRetry (id: number): Promise<void> {
    let delay = this.#retryDelayMs
    for (let attempt = 1; ; attempt++) {
      this.#signal?.throwIfAborted()
      try {
        const answer = await this.#fetchOnce(id)
        this.#known.delete(id) // (an expired failure) most recently used goes last
        this.#known.set(id, answer)
        if (answer instanceof SchemaFailure) this.#failedUntil.set(id, this.#now() + this.#failureTtlMs)
        else this.#failedUntil.delete(id)
        return
      } catch (err) {
        if (this.#signal?.aborted === true) throw err
        this.#logger?.warn({ registry: this.#base, schemaId: id, attempt, retryInMs: delay, err: errorMessage(err) },
          'schema registry unavailable; the batch waits and the fetch is retried')
      }
      await sleep(delay, undefined, this.#signal === undefined ? undefined : { signal: this.#signal })
      delay = Math.min(delay * 2, this.#maxRetryDelayMs)
    }
  }

  /** A definite answer (schema or SchemaFailure), or throws for a transient failure. */
  async #fetchOnce (id: number): Promise<T | SchemaFailure> {
    this.requests++
    const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' }
    if (this.#authorization !== undefined) headers.authorization = this.#authorization
    // The request itself is not tied to `signal`: a shutdown lets an answer already on its way arrive.
    const response = await fetch(`${this.#base}/schemas/ids/${id}`, { headers, signal: AbortSignal.timeout(this.#timeoutMs) })
    const text = await response.text()
    if (response.status === 404) return new SchemaFailure(`schema id ${id} not found in the schema registry`)
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new Error(`response is not JSON: ${text.slice(0, 100)}`)
    }
    const { schema, schemaType } = (body ?? {}) as { schema?: unknown, schemaType?: unknown }
    if (typeof schema !== 'string') throw new Error('response has no "schema" string')
    if (schemaType !== undefined && schemaType !== 'AVRO') return new SchemaFailure(`schema id ${id} is ${String(schemaType)}, expected AVRO`)
    try {
      return this.#compile(JSON.parse(schema))
    } catch (err) {
      return new SchemaFailure(`schema id ${id} is not a usable Avro schema: ${errorMessage(err).slice(0, 120)}`)
    }
  }
}

/** A definite reason why messages written with a schema id cannot be decoded. */
export class SchemaFailure {
  readonly reason: string
  constructor (reason: string) {
    this.reason = reason
  }
}
