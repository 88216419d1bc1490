/**
 * Pushes the registry's current values to OpenTSDB (`POST {url}/api/put`, a JSON array of data points) every
 * interval, and once more on stop. Metric names are the Prometheus names; labels become tags, plus the
 * configured tags (`host` defaults to the host name: OpenTSDB needs at least one tag). Histograms are pushed
 * as `_sum` and `_count` only (OpenTSDB cannot combine buckets into quantiles). A failed push is logged and
 * counted, not retried: the next one carries the then-current values (counters are cumulative, so only
 * resolution is lost).
 */
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { errorMessage } from '../errors.js'
import type { SedimentMetrics } from './metrics.js'

export interface DataPoint {
  metric: string
  /** Seconds since the epoch. */
  timestamp: number
  value: number
  tags: Record<string, string>
}

export interface OpenTsdbOptions {
  /** Base URL of a TSD, e.g. `http://opentsdb:4242`; `/api/put` is appended unless already there. */
  url: string
  intervalMs: number
  tags: Record<string, string>
  /** HTTP Basic authentication. */
  auth?: { username: string, password: string }
  metrics: SedimentMetrics
  logger: Logger
  /** Per request (default 10 s). */
  timeoutMs?: number
}

/** Data points per request: OpenTSDB rejects request bodies over its chunk size (512 KiB by default). */
const POINTS_PER_REQUEST = 200

/** OpenTSDB's character set for metric names and tags: anything else becomes '_'. */
function tsdbSafe (s: string): string {
  return s.replace(/[^A-Za-z0-9._/-]/g, '_')
}

/** The registry's values as OpenTSDB data points. */
export async function dataPoints (registry: Registry, tags: Record<string, string>, timestamp: number): Promise<DataPoint[]> {
  const points: DataPoint[] = []
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const v of metric.values as Array<{ value: number, labels: Record<string, string | number>, metricName?: string }>) {
      const name = v.metricName ?? metric.name
      if (name.endsWith('_bucket') || !Number.isFinite(v.value)) continue
      const pointTags: Record<string, string> = { ...tags }
      for (const [k, value] of Object.entries(v.labels)) {
        const text = tsdbSafe(String(value))
        if (text !== '') pointTags[tsdbSafe(k)] = text
      }
      points.push({ metric: tsdbSafe(name), timestamp, value: v.value, tags: pointTags })
    }
  }
  return points
}

export class OpenTsdbPusher {
  readonly #o: OpenTsdbOptions
  readonly #log: Logger
  readonly #endpoint: string
  readonly #headers: Record<string, string>
  readonly #tags: Record<string, string>
  #timer: NodeJS.Timeout | undefined
  #pushing: Promise<void> | undefined
  #failing = false

  constructor (options: OpenTsdbOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'opentsdb' })
    const url = new URL(options.url)
    this.#headers = { 'content-type': 'application/json' }
    const auth = options.auth
    if (auth !== undefined) this.#headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
    if (!url.pathname.endsWith('/api/put')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/put`
    this.#endpoint = url.toString()
    this.#tags = { host: tsdbSafe(hostname()), ...options.tags }
  }

  /** Where data points go, without credentials. */
  get endpoint (): string {
    return this.#endpoint
  }

  start (): void {
    this.#timer = setInterval(() => { void this.push() }, this.#o.intervalMs)
    this.#timer.unref()
  }

  /** One push of the current values (never throws; a push in progress is not overlapped). */
  async push (): Promise<void> {
    if (this.#pushing !== undefined) return await this.#pushing
    this.#pushing = this.#push().finally(() => { this.#pushing = undefined })
    await this.#pushing
  }

  /** Stops the timer and pushes a last time. */
  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#pushing
    await this.push()
  }

  async #push (): Promise<void> {
    try {
      const points = await dataPoints(this.#o.metrics.registry, this.#tags, Math.floor(Date.now() / 1000))
      for (let i = 0; i < points.length; i += POINTS_PER_REQUEST) {
        const res = await fetch(this.#endpoint, {
          method: 'POST',
          headers: this.#headers,
          body: JSON.stringify(points.slice(i, i + POINTS_PER_REQUEST)),
          signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000)
        })
        const text = await res.text().catch(() => '')
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`)
      }
      if (this.#failing) this.#log.info({ endpoint: this.#endpoint }, 'pushing metrics to OpenTSDB works again')
      this.#failing = false
    } catch (err) {
      this.#o.metrics.openTsdbPushFailures.inc()
      if (!this.#failing) this.#log.warn({ endpoint: this.#endpoint, err: errorMessage(err) }, 'pushing metrics to OpenTSDB failed; trying again every interval')
      this.#failing = true
    }
  }
}
