/**
 * One pipeline in a worker thread: runService with this thread's own Kafka consumer (a group member), sink and
 * S3 client. The main thread (pool.ts) serves the metrics endpoint for all, so this one reports its metrics
 * and readiness over the message port, and stops when told (the process's SIGTERM).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { pino } from 'pino'
import { SedimentError, errorMessage, ConfigError } from '../errors.js'
import { createLogger } from '../logger.js'
import type { Operations } from '../ops/operations.js'
import { runService } from '../service.js'
import type { FromWorker, ToWorker, WorkerInit } from './messages.js'

const init = workerData as WorkerInit
const port = parentPort
if (port === null) throw new Error('worker-thread.ts runs in a worker thread')
const post = (m: FromWorker): void => { port.postMessage(m) }

// The process's log stream (stdout), written synchronously so no line is lost when the thread ends.
const logger = createLogger({
  level: init.config.log.level,
  pretty: init.config.log.pretty,
  destination: pino.destination({ dest: 1, sync: true }) as unknown as NodeJS.WritableStream
}).child({ worker: init.index })

const controller = new AbortController()
let ops: Operations | undefined
let leave: () => void = () => {}
const mayLeave = new Promise<void>((resolve) => { leave = resolve })

port.on('message', (m: ToWorker) => {
  if (m.type === 'stop') controller.abort('SIGTERM')
  else if (m.type === 'leave') leave()
  else if (m.type === 'scrape') {
    const metrics = ops?.metrics.registry.getMetricsAsJSON() ?? Promise.resolve([])
    metrics.then(
      (list) => { post({ type: 'scrape', id: m.id, metrics: list }) },
      () => { post({ type: 'scrape', id: m.id, metrics: [] }) })
  }
})

// Readiness changes (joined, uploads failing, stopping) reach /readyz within a second.
const readiness = setInterval(() => { if (ops !== undefined) post({ type: 'readiness', readiness: ops.health.readiness() }) }, 1000)
readiness.unref()

const config = { ...init.config }
const tsdb = config.metrics.opentsdb
// Each worker pushes its own series; the tag keeps them apart (OpenTSDB sums them at query time).
if (tsdb !== undefined) config.metrics = { ...config.metrics, opentsdb: { ...tsdb, tags: { ...tsdb.tags, worker: String(init.index) } } }

try {
  const stats = await runService(config, {
    logger,
    signal: controller.signal,
    metricsServer: false,
    beforeLeave: async () => {
      post({ type: 'flushed' })
      await mayLeave
    },
    onOperations: (o) => {
      ops = o
      post({ type: 'readiness', readiness: o.health.readiness() })
    }
  })
  post({ type: 'done', stats })
} catch (err) {
  post({
    type: 'failed',
    message: errorMessage(err),
    ...(err instanceof SedimentError ? { code: err.code } : {}),
    ...(err instanceof ConfigError ? { config: true } : {})
  })
} finally {
  clearInterval(readiness)
  port.close()
}
