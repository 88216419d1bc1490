import { setTimeout as sleep } from 'node:timers/promises'
import { pipeline } from 'node:stream/promises'
import type { Logger } from 'pino'
import type { SedimentConfig } from './config/types.js'
import { errorMessage } from './errors.js'
import { ObjectSink, SinkCounters, emptyCounters, type SinkStats } from './sinks/object-sink.js'
import type { ObjectStore } from './sinks/object-store.js'
import { FileStore } from './sinks/file-store.js'
import { S3Store } from './sinks/s3-store.js'
import { KafkaSource } from './sources/kafka-source.js'
import { encodeStage } from './stages/encode.js'
import { parseStage } from './stages/parse.js'
import { partitionStage } from './stages/partition.js'

export interface ServiceOptions {
  logger: Logger
  /** Aborting it shuts the service down (SIGTERM): stop reading, flush or discard per config, exit. */
  signal: AbortSignal
  /** Called with the sink of each pipeline incarnation (tests and the demo watch its 'commit' events). */
  onPipeline?: (parts: { source: KafkaSource, sink: ObjectSink }) => void
}

export function createStore (config: SedimentConfig): ObjectStore {
  const s = config.sink
  if (s.type === 'file') return new FileStore({ directory: s.directory as string })
  return new S3Store({
    bucket: s.bucket as string,
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.socketTimeoutMs !== undefined ? { socketTimeoutMs: s.socketTimeoutMs } : {}),
    ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}),
    ...(s.credentials !== undefined ? { credentials: s.credentials } : {})
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
  const store = createStore(config)
  const total: SinkStats = { ...emptyCounters(), openFiles: 0, bufferedBytes: 0 }
  log.info({ sink: store.location, prefix: config.sink.prefix, groupId: config.kafka.groupId }, 'starting')
  try {
    for (let failures = 0; !options.signal.aborted;) {
      try {
        const stats = await runPipeline(config, store, options)
        for (const k of SinkCounters) total[k] += stats[k]
        failures = 0
      } catch (err) {
        if (options.signal.aborted) break
        failures++
        const delay = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5))
        log.error({ err: errorMessage(err), retryInMs: delay }, 'pipeline failed; restarting from the last commit')
        await sleep(delay, undefined, { signal: options.signal }).catch(() => {})
      }
    }
  } finally {
    await store.close()
  }
  log.info(total, 'stopped')
  return total
}

async function runPipeline (config: SedimentConfig, store: ObjectStore, options: ServiceOptions): Promise<SinkStats> {
  const k = config.kafka
  const source = new KafkaSource({
    brokers: k.brokers,
    groupId: k.groupId,
    clientId: k.clientId,
    ...(k.topics !== undefined ? { topics: k.topics } : {}),
    ...(k.topicPattern !== undefined ? { topicPattern: k.topicPattern } : {}),
    autoOffsetReset: k.autoOffsetReset,
    sessionTimeoutMs: k.sessionTimeoutMs,
    heartbeatIntervalMs: k.heartbeatIntervalMs,
    rebalanceTimeoutMs: k.rebalanceTimeoutMs,
    maxBytesPerPartition: k.maxBytesPerPartition,
    connectionTimeoutMs: k.connectionTimeoutMs,
    ssl: k.ssl,
    ...(k.sasl !== undefined ? { sasl: { ...k.sasl } as never } : {}),
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
    partSizeBytes: config.upload.partSizeBytes,
    maxConcurrentParts: config.upload.maxConcurrentParts,
    maxBufferedBytes: config.upload.maxBufferedBytes,
    uploadOnEnd: config.upload.uploadOnShutdown
  })
  options.onPipeline?.({ source, sink })
  // SIGTERM: stop reading; the sink then flushes (or discards) on end of input while the consumer is still a
  // group member, so its final commits are accepted. Only then does the consumer leave the group.
  const onAbort = (): void => { source.endInput() }
  options.signal.addEventListener('abort', onAbort, { once: true })
  const flowing = pipeline(
    source,
    parseStage({
      type: config.parser.type,
      timestampField: config.parser.timestampField,
      maxMessageBytes: config.parser.maxMessageBytes,
      timestampBounds: config.parser.timestampBounds
    }),
    partitionStage({ template: config.partition.template, timezone: config.partition.timezone }),
    encodeStage({ format: config.output.format, compression: config.output.compression, compressionLevel: config.output.compressionLevel }),
    sink
  )
  try {
    await source.start({ signal: options.signal })
    if (options.signal.aborted) source.endInput()
    await flowing
    return sink.stats()
  } catch (err) {
    source.destroy()
    await flowing.catch(() => {})
    throw err
  } finally {
    options.signal.removeEventListener('abort', onAbort)
    await source.close()
  }
}
