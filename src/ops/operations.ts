/**
 * The service's operations side: metrics, the /metrics /healthz /readyz server, the lag monitor and the
 * optional OpenTSDB push. One instance lives for the whole service; each pipeline incarnation (source + sink)
 * is attached while it runs. Nothing here is on the data path: a metrics failure never stops consumption.
 */
import type { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { SedimentConfig } from '../config/types.js'
import { errorMessage } from '../errors.js'
import type { CommitEvent } from '../sinks/commit-protocol.js'
import { joinKey, type ObjectStore } from '../sinks/object-store.js'
import type { ObjectSink } from '../sinks/object-sink.js'
import type { FetchInfo, KafkaSource } from '../sources/kafka-source.js'
import type { SkippedEvent, StoppedEvent } from '../sources/log-continuity.js'
import type { AssignmentEvent, ParsedBatch } from '../types.js'
import { Health } from './health.js'
import { OpsServer } from './http-server.js'
import { LagMonitor } from './lag-monitor.js'
import { SedimentMetrics } from './metrics.js'
import { OpenTsdbPusher } from './opentsdb.js'
import { badReasonLabel } from './reason-label.js'
import { instrumentStore } from './store-instrumentation.js'

export interface PipelineParts {
  source: KafkaSource
  sink: ObjectSink
}

export interface OperationsOptions {
  /** false: no HTTP server and no process-level metrics (a worker thread's pipeline; the main thread serves). */
  server?: boolean
}

export class Operations {
  readonly metrics: SedimentMetrics
  readonly health: Health
  readonly #log: Logger
  readonly #errorsPrefix: string
  #server: OpsServer | undefined
  #lag: LagMonitor | undefined
  #tsdb: OpenTsdbPusher | undefined
  #source: KafkaSource | undefined
  #sink: ObjectSink | undefined
  /** Abandoned cuts of finished pipelines (each sink counts its own). */
  readonly #abandoned = { fenced: 0, ambiguous: 0 }
  /** Per partition: offsets below this were already counted as expired (sediment_offsets_expired_total). */
  readonly #expiredUpTo = new Map<string, number>()
  readonly #earlyCuts = { memory: 0, files: 0 }

  private constructor (config: SedimentConfig, logger: Logger, processMetrics: boolean) {
    this.#log = logger.child({ component: 'ops' })
    this.#errorsPrefix = joinKey(config.sink.prefix, '_errors') + '/'
    this.health = new Health({ uploadFailureMs: config.metrics.readyzUploadFailureSeconds * 1000 })
    this.metrics = new SedimentMetrics({
      openFiles: () => this.#sink?.stats().openFiles ?? 0,
      bufferedBytes: () => this.#sink?.stats().bufferedBytes ?? 0,
      abandonedCuts: () => {
        const s = this.#sink?.stats()
        return { fenced: this.#abandoned.fenced + (s?.fencedCuts ?? 0), ambiguous: this.#abandoned.ambiguous + (s?.ambiguousCuts ?? 0) }
      },
      earlyCuts: () => {
        const s = this.#sink?.stats()
        return { memory: this.#earlyCuts.memory + (s?.earlyCutsMemory ?? 0), files: this.#earlyCuts.files + (s?.earlyCutsFiles ?? 0) }
      },
      paused: () => this.#source?.paused ?? false,
      ready: () => this.health.readiness().ready
    }, { processMetrics })
  }

  /**
   * Starts what `config.metrics` enables. The HTTP server failing to bind (e.g. the port is taken) is logged as
   * an error and the service runs on without it: the data path must not depend on the metrics endpoint.
   */
  static async start (config: SedimentConfig, logger: Logger, options: OperationsOptions = {}): Promise<Operations> {
    const ops = new Operations(config, logger, options.server !== false)
    const m = config.metrics
    if (!m.enabled) return ops
    // A pipeline in a worker thread: the main thread serves the endpoints for all (src/workers/).
    if (options.server !== false) {
      try {
        ops.#server = await OpsServer.start({ host: m.host, port: m.port, registry: ops.metrics.registry, readiness: () => ops.health.readiness() })
        ops.#log.info({ address: ops.#server.url, endpoints: ['/metrics', '/healthz', '/readyz'] }, 'metrics server listening')
      } catch (err) {
        ops.#log.error({ host: m.host, port: m.port, err: errorMessage(err) }, 'metrics server could not listen; running without /metrics, /healthz and /readyz')
      }
    }
    ops.#lag = new LagMonitor({ kafka: config.kafka, intervalMs: m.lagIntervalSeconds * 1000, metrics: ops.metrics, logger })
    ops.#lag.start()
    if (m.opentsdb !== undefined) {
      const { url, username, password, intervalSeconds, tags } = m.opentsdb
      ops.#tsdb = new OpenTsdbPusher({
        url,
        intervalMs: intervalSeconds * 1000,
        tags,
        ...(username !== undefined && password !== undefined ? { auth: { username, password } } : {}),
        metrics: ops.metrics,
        logger
      })
      ops.#tsdb.start()
      ops.#log.info({ endpoint: ops.#tsdb.endpoint, intervalSeconds: m.opentsdb.intervalSeconds }, 'pushing metrics to OpenTSDB')
    }
    return ops
  }

  /** The bound address of the HTTP server, if it runs (e.g. `http://127.0.0.1:9464`). */
  get url (): string | undefined {
    return this.#server?.url
  }

  /** The store, counting its writes and reporting failing uploads to readiness. */
  instrumentStore (store: ObjectStore): ObjectStore {
    return instrumentStore(store, this.metrics, this.health)
  }

  /** For the partition stage's `onParsed`: bad records by reason, and event times for the lag in seconds. */
  readonly onParsed = (batch: ParsedBatch): void => {
    if (batch.maxEventTime !== undefined) this.#lag?.noteRead(batch.topic, batch.partition, batch.maxEventTime)
    if (batch.filtered !== undefined && batch.filtered > 0) this.metrics.filteredRecords.inc({ topic: batch.topic }, batch.filtered)
    if (batch.bad.length === 0) return
    const byReason = new Map<string, number>()
    for (const b of batch.bad) {
      const label = badReasonLabel(b.reason)
      byReason.set(label, (byReason.get(label) ?? 0) + 1)
    }
    for (const [reason, n] of byReason) this.metrics.badRecords.inc({ topic: batch.topic, reason }, n)
  }

  /** Watches a pipeline incarnation while it runs; call the returned function when it has ended. */
  attach ({ source, sink }: PipelineParts): () => void {
    this.#source = source
    this.#sink = sink
    const onAssignment = (e: AssignmentEvent): void => {
      this.metrics.rebalances.inc()
      this.health.joined(e.partitions.length)
      this.#lag?.setAssignment(e.partitions)
    }
    const onFetch = (f: FetchInfo): void => {
      this.metrics.messagesIn.inc({ topic: f.topic }, f.messages)
      this.metrics.bytesIn.inc({ topic: f.topic }, f.bytes)
    }
    const onCommit = (e: CommitEvent): void => { this.#onCommit(e) }
    const onSkipped = (e: SkippedEvent): void => {
      // The same hole is seen again on every (re)join until a cut past it commits: count each offset once.
      const key = `${e.topic}\u0000${e.partition}`
      const from = Math.max(e.from, this.#expiredUpTo.get(key) ?? 0)
      if (e.to <= from) return
      this.#expiredUpTo.set(key, e.to)
      this.metrics.offsetsExpired.inc({ topic: e.topic, partition: String(e.partition) }, e.to - from)
    }
    const onStopped = (e: StoppedEvent): void => {
      this.metrics.partitionsStopped.inc({ topic: e.topic, partition: String(e.partition), reason: e.reason })
    }
    source.on('assignment', onAssignment)
    source.on('fetch', onFetch)
    source.on('skipped', onSkipped)
    source.on('stopped', onStopped)
    sink.events.on('commit', onCommit)
    return () => {
      source.off('assignment', onAssignment)
      source.off('fetch', onFetch)
      source.off('skipped', onSkipped)
      source.off('stopped', onStopped)
      sink.events.off('commit', onCommit)
      const s = sink.stats()
      this.#abandoned.fenced += s.fencedCuts
      this.#abandoned.ambiguous += s.ambiguousCuts
      this.#earlyCuts.memory += s.earlyCutsMemory
      this.#earlyCuts.files += s.earlyCutsFiles
      if (this.#sink === sink) this.#sink = undefined
      if (this.#source === source) this.#source = undefined
      this.health.left()
      this.#lag?.setAssignment([])
    }
  }

  /** Counts late records (data for partitions the finalizer already marked) in sediment_late_records_total. */
  watchLateData (monitor: EventEmitter): void {
    monitor.on('late', (e: { topic: string, records: number }) => { this.metrics.lateRecords.inc({ topic: e.topic }, e.records) })
  }

  pipelineFailed (): void {
    this.metrics.pipelineRestarts.inc()
  }

  /** Shutdown began: /readyz fails from now on. */
  stopping (): void {
    this.health.stopping()
  }

  async stop (): Promise<void> {
    this.health.stopping()
    await this.#lag?.stop()
    await this.#tsdb?.stop()
    await this.#server?.close()
  }

  #onCommit (e: CommitEvent): void {
    const m = this.metrics
    m.commits.inc({ topic: e.topic })
    m.cutToCommit.observe({ reason: e.reason }, e.durationMs / 1000)
    for (const f of e.files) {
      const labels = { topic: e.topic, output: f.key.startsWith(this.#errorsPrefix) ? 'errors' : 'data' }
      m.recordsWritten.inc(labels, f.records)
      m.bytesWritten.inc(labels, f.bytes)
      m.filesWritten.inc(labels)
    }
  }
}
