import { setTimeout as sleep } from 'node:timers/promises'
import type { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import type { SedimentConfig, TopicOverride } from './config/types.js'
import { ConfigError, ErrorCodes, SedimentError, errorMessage } from './errors.js'
import { ObjectSink, SinkCounters, emptyCounters, type ObjectSinkOptions, type SinkStats } from './sinks/object-sink.js'
import type { ObjectStore } from './sinks/object-store.js'
import { FileStore } from './sinks/file-store.js'
import { S3Store } from './sinks/s3-store.js'
import { KafkaSource } from './sources/kafka-source.js'
import { kafkajsSecurity } from './sources/kafka-security.js'
import { pickS3Access } from './sinks/s3-access.js'
import { azureStoreFor } from './sinks/azure-store.js'
import { encodeStage, outputEncodeOptions } from './stages/encode.js'
import { parseStage } from './stages/parse.js'
import { partitionStage } from './stages/partition.js'
import { TopicRoutes, type TopicRoute } from './stages/topic-routes.js'
import type { Operations } from './ops/operations.js'
import { ProgressReporter } from './ops/progress.js'
import { finalizerHooks } from './finalizer/service-hooks.js'
import type { LateDataMonitor } from './finalizer/late-data.js'

export interface ServiceOptions {
  logger: Logger
  /** Aborting it shuts the service down (SIGTERM): stop reading, flush or discard per config, exit. */
  signal: AbortSignal
  /** Called with the sink of each pipeline incarnation (tests and the demo watch its 'commit' events). */
  onPipeline?: (parts: { source: KafkaSource, sink: ObjectSink }) => void
  /** With config.finalizer: called once with the counter of late records (records for finalized partitions). */
  onLateData?: (monitor: LateDataMonitor) => void
  /** false in a worker thread (src/workers/): the main thread serves /metrics, /healthz, /readyz for all. */
  metricsServer?: boolean
  /** Called once with the service's metrics and health (a worker thread reports them to the main thread). */
  onOperations?: (ops: Operations) => void
  /**
   * On shutdown, after the final cuts are committed and before the consumer leaves the group. Worker threads
   * wait here until every worker has flushed: a member leaving starts a rebalance that refuses the others'
   * commits still in flight (src/workers/).
   */
  beforeLeave?: () => Promise<void>
}

export function createStore (config: SedimentConfig): ObjectStore {
  const s = config.sink
  if (s.type === 'file') return new FileStore({ directory: s.directory as string })
  if (s.type === 'azure') return azureStoreFor(s)
  return new S3Store({
    bucket: s.bucket as string,
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.socketTimeoutMs !== undefined ? { socketTimeoutMs: s.socketTimeoutMs } : {}),
    ...(s.checksum !== undefined ? { checksum: s.checksum } : {}),
    ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}),
    ...(s.credentials !== undefined ? { credentials: s.credentials } : {}),
    access: pickS3Access(s)
  })
}

/**
 * Runs the service until `signal` aborts. The pipeline is
 *   Kafka source → parse → partition (dt/hr) → encode+compress → object sink (uploads, commit protocol).
 * If a pipeline fails (consumer crash, unrecoverable error), it is torn down and rebuilt after a backoff:
 * nothing is lost by that, since only committed cuts are ever visible and consumption resumes from the commit.
 */
export async function runService (config: SedimentConfig, options: ServiceOptions): Promise<SinkStats> {
  const log = options.logger.child({ component: 'service' })
  // Metrics, /healthz, /readyz, lag and OpenTSDB (config.metrics); the store is wrapped to count its writes.
  // Loaded here, not at the top: importing the library does not load prom-client (metrics) until a service runs.
  const { Operations } = await import('./ops/operations.js')
  const ops = await Operations.start(config, options.logger, { server: options.metricsServer !== false })
  options.onOperations?.(ops)
  const store = ops.instrumentStore(createStore(config))
  const onStopping = (): void => { ops.stopping() }
  options.signal.addEventListener('abort', onStopping, { once: true })
  const total: SinkStats = { ...emptyCounters(), openFiles: 0, bufferedBytes: 0 }
  log.info({ sink: store.location, prefix: config.sink.prefix, groupId: config.kafka.groupId }, 'starting')
  // config.finalizer: late data is counted, and with inRun one member finalizes partitions (src/finalizer/).
  const finalizing = finalizerHooks(config, store, options.logger)
  if (finalizing.late !== undefined) {
    ops.watchLateData(finalizing.late)
    options.onLateData?.(finalizing.late)
  }
  // One progress line every log.progressSeconds (records/s, bytes/s, lag, open files, last commit age).
  const progress = new ProgressReporter({ logger: options.logger, intervalSeconds: config.log.progressSeconds, metrics: ops.metrics })
  const pipelineOptions: ServiceOptions = { ...options, onPipeline: progress.wrap(finalizing.wrap(options.onPipeline)) }
  progress.start()
  try {
    for (let failures = 0; !options.signal.aborted;) {
      try {
        const stats = await runPipeline(config, store, pipelineOptions, ops)
        for (const k of SinkCounters) total[k] += stats[k]
        failures = 0
      } catch (err) {
        if (options.signal.aborted) break
        // A configuration problem found only when starting (a parser file or module) does not heal by retrying.
        if (err instanceof ConfigError) throw err
        failures++
        ops.pipelineFailed()
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5))
        log.error({ err: errorMessage(err), retryInMs: delay }, 'pipeline failed; restarting from the last commit')
        await sleep(delay, undefined, { signal: options.signal }).catch(() => {})
      }
    }
  } finally {
    progress.stop()
    await finalizing.stop()
    await store.close()
    options.signal.removeEventListener('abort', onStopping)
    await ops.stop()
  }
  log.info(total, 'stopped')
  return total
}

/** parse → partition → encode for one set of settings (the top-level ones, or a topic override's). */
async function stagesFor (settings: Pick<SedimentConfig, 'parser' | 'partition' | 'output'>, options: ServiceOptions, ops: Operations): Promise<Transform[]> {
  // Loaded before joining the group: a missing .proto file or a broken custom module fails here, not mid-stream.
  // Length-prefixed raw output holds any bytes; every other output is line-framed.
  const keepLineBreaks = settings.output.format === 'raw' && settings.output.framing === 'length-prefixed'
  const parse = parseStage({ ...settings.parser, keepLineBreaks, logger: options.logger, signal: options.signal })
  await parse.init()
  return [
    parse,
    partitionStage({ template: settings.partition.template, timezone: settings.partition.timezone, fields: Object.keys(settings.parser.fields ?? {}), onParsed: ops.onParsed }),
    encodeStage(outputEncodeOptions(settings.output))
  ]
}

/** A topic override with its topic test, built once per pipeline for both the stages and the sink's cut policy. */
interface RoutedOverride { override: TopicOverride, matches: (topic: string) => boolean }

/** The stages between source and sink: one chain, or with topicOverrides one chain per override plus the default. */
async function middleStages (config: SedimentConfig, overrides: RoutedOverride[], options: ServiceOptions, ops: Operations): Promise<Transform[]> {
  if (overrides.length === 0) return await stagesFor(config, options, ops)
  const routes: TopicRoute[] = []
  for (const o of overrides) routes.push({ matches: o.matches, stages: await stagesFor(o.override, options, ops) })
  routes.push({ matches: () => true, stages: await stagesFor(config, options, ops) })
  return [new TopicRoutes(routes) as unknown as Transform]
}

function topicMatcher (o: TopicOverride): (topic: string) => boolean {
  if (o.topics !== undefined) {
    const set = new Set(o.topics)
    return topic => set.has(topic)
  }
  const re = new RegExp(o.topicPattern as string)
  return topic => re.test(topic)
}

/** The cut policy per topic (topicOverrides' upload sections); undefined without overrides. */
function topicPolicy (overrides: RoutedOverride[]): ObjectSinkOptions['topicPolicy'] {
  if (overrides.length === 0) return undefined
  return {
    policyFor: topic => overrides.find(o => o.matches(topic))?.override.upload,
    minFileAgeSeconds: Math.min(...overrides.map(o => o.override.upload.maxFileAgeSeconds))
  }
}

async function runPipeline (config: SedimentConfig, store: ObjectStore, options: ServiceOptions, ops: Operations): Promise<SinkStats> {
  const overrides = (config.topicOverrides ?? []).map(override => ({ override, matches: topicMatcher(override) }))
  const middle = await middleStages(config, overrides, options, ops)
  const k = config.kafka
  const source = new KafkaSource({
    brokers: k.brokers,
    groupId: k.groupId,
    clientId: k.clientId,
    ...(k.topics !== undefined ? { topics: k.topics } : {}),
    ...(k.topicPattern !== undefined ? { topicPattern: k.topicPattern, topicRefreshMs: k.topicRefreshSeconds * 1000 } : {}),
    autoOffsetReset: k.autoOffsetReset,
    isolationLevel: k.isolationLevel,
    sessionTimeoutMs: k.sessionTimeoutMs,
    heartbeatIntervalMs: k.heartbeatIntervalMs,
    rebalanceTimeoutMs: k.rebalanceTimeoutMs,
    maxBytesPerPartition: k.maxBytesPerPartition,
    connectionTimeoutMs: k.connectionTimeoutMs,
    ...kafkajsSecurity(k, { logger: options.logger }),
    logger: options.logger
  })
  const sink = new ObjectSink({
    store,
    committer: source,
    logger: options.logger,
    prefix: config.sink.prefix,
    generation: config.generation,
    maxFileBytes: config.upload.maxFileBytes,
    maxFileAgeSeconds: config.upload.maxFileAgeSeconds,
    topicPolicy: topicPolicy(overrides),
    partSizeBytes: config.upload.partSizeBytes,
    maxConcurrentParts: config.upload.maxConcurrentParts,
    maxBufferedBytes: config.upload.maxBufferedBytes,
    maxOpenFilesPerPartition: config.upload.maxOpenFilesPerPartition,
    uploadOnEnd: config.upload.uploadOnShutdown
  })
  options.onPipeline?.({ source, sink })
  const detach = ops.attach({ source, sink })
  // SIGTERM: stop reading; the sink then flushes (or discards) on end of input while the consumer is still a
  // group member, so its final commits are accepted. Only then does the consumer leave the group. After the
  // grace period the sink is destroyed, which ends every retry and wait of the commit protocol at once.
  let grace: NodeJS.Timeout | undefined
  const onAbort = (): void => {
    source.endInput()
    grace = setTimeout(() => {
      options.logger.warn({ graceSeconds: config.upload.shutdownGraceSeconds }, 'shutdown grace period over; abandoning unfinished cuts (the next owner re-reads them)')
      sink.destroy(new SedimentError(ErrorCodes.SHUTDOWN, 'shutdown grace period over'))
    }, config.upload.shutdownGraceSeconds * 1000)
  }
  options.signal.addEventListener('abort', onAbort, { once: true })
  const flowing = pipeline([source, ...middle, sink])
  try {
    await source.start({ signal: options.signal })
    if (options.signal.aborted) source.endInput()
    await flowing
    if (options.signal.aborted) await options.beforeLeave?.()
    return sink.stats()
  } catch (err) {
    source.destroy()
    await flowing.catch(() => {})
    throw err
  } finally {
    clearTimeout(grace)
    options.signal.removeEventListener('abort', onAbort)
    await source.close()
    detach()
  }
}
