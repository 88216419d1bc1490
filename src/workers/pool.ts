/**
 * `workers: N` (N > 1): N pipelines, each in a worker thread, each its own consumer-group member with its own
 * sink and S3 client; the main thread serves one /metrics (the workers' metrics aggregated), /healthz and
 * /readyz, and forwards the shutdown signal.
 *
 * Threads rather than child processes: the process stays one unit for the container and for failures. A
 * SIGKILL (or an OOM kill) of the process ends every pipeline at once, exactly like one pipeline's process
 * today; child processes would outlive a killed parent and keep their partitions, fetching and writing,
 * until they noticed. One PID, one RSS limit, one stdout. What threads share (the libuv pool that runs zlib,
 * the process's memory limit) is shared by the pipelines of a single process today too.
 */
import { extname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { AggregatorRegistry, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import type { SedimentConfig } from '../config/types.js'
import { ConfigError, ErrorCodes, SedimentError, errorMessage } from '../errors.js'
import type { Readiness } from '../ops/health.js'
import { OpsServer } from '../ops/http-server.js'
import { MetricNames } from '../ops/metrics.js'
import { SinkCounters, emptyCounters, type SinkStats } from '../sinks/object-sink.js'
import type { ServiceOptions } from '../service.js'
import type { FromWorker, ToWorker, WorkerInit } from './messages.js'

/** Runs inside the worker: registers tsx when the sources are TypeScript (tests, `bin/sediment.js` without a build). */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads')
;(async () => {
  if (workerData.tsx !== undefined) (await import(workerData.tsx)).register()
  await import(workerData.entry)
})().catch((err) => {
  require('node:worker_threads').parentPort.postMessage({ type: 'failed', message: String(err && err.stack || err) })
})
`

/** On shutdown, how long flushed workers wait for the others before leaving the group anyway. */
const LEAVE_TOGETHER_MS = 20_000

/** How long a scrape waits for a worker; a busy or stuck worker is left out of that scrape rather than hang it. */
const SCRAPE_TIMEOUT_MS = 2000

interface Member {
  index: number
  worker: Worker
  readiness: Readiness
  flushed: boolean
  ended: boolean
  stats?: SinkStats
  failure?: FromWorker & { type: 'failed' }
  exited: Promise<number>
  scrapes: Map<number, (m: Array<MetricObjectWithValues<MetricValue<string>>>) => void>
}

function workerModule (): { entry: string, tsx?: string } {
  const here = fileURLToPath(import.meta.url)
  const ext = extname(here)
  const entry = pathToFileURL(here.slice(0, -ext.length).replace(/pool$/, 'worker-thread') + ext).href
  if (ext !== '.ts') return { entry }
  // the ESM build of tsx's API (what bin/sediment.js registers); resolved here, where node_modules is known
  return { entry, tsx: import.meta.resolve('tsx/esm/api') }
}

export async function runWorkers (config: SedimentConfig, count: number, options: ServiceOptions): Promise<SinkStats> {
  const log = options.logger.child({ component: 'workers' })
  const module = workerModule()
  let stopping = false
  const members: Member[] = []
  const stopAll = (): void => {
    stopping = true
    for (const m of members) if (!m.ended) m.worker.postMessage({ type: 'stop' } satisfies ToWorker)
  }
  // Shutdown: every worker commits its final cuts while the group is unchanged, then all leave together; one
  // leaving earlier would start a rebalance that refuses the others' last commits.
  let leaveTimer: NodeJS.Timeout | undefined
  const letLeave = (force: boolean): void => {
    if (!force && !members.every((m) => m.flushed || m.ended)) {
      leaveTimer ??= setTimeout(() => { letLeave(true) }, LEAVE_TOGETHER_MS)
      return
    }
    if (leaveTimer !== undefined) clearTimeout(leaveTimer)
    for (const m of members) if (m.flushed && !m.ended) m.worker.postMessage({ type: 'leave' } satisfies ToWorker)
  }

  for (let index = 0; index < count; index++) {
    const init: WorkerInit = { config, index, count, ...module }
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: init, name: `sediment-pipeline-${index}` })
    const member: Member = {
      index,
      worker,
      readiness: { ready: false, reason: `worker ${index} is starting` },
      flushed: false,
      ended: false,
      exited: new Promise((resolve) => {
        worker.once('exit', (code) => {
          member.ended = true
          if (stopping) letLeave(false) // one that ended without flushing must not hold the others
          resolve(code)
        })
      }),
      scrapes: new Map()
    }
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'readiness') member.readiness = m.readiness
      else if (m.type === 'flushed') {
        member.flushed = true
        letLeave(false)
      }
      else if (m.type === 'scrape') member.scrapes.get(m.id)?.(m.metrics)
      else if (m.type === 'done') member.stats = m.stats
      else {
        member.failure = m
        log.error({ worker: index, err: m.message }, 'pipeline worker failed; stopping the others')
        stopAll()
      }
    })
    // An exception the worker did not catch (its pipeline restarts itself on ordinary failures, like one process).
    worker.on('error', (err) => {
      member.failure = { type: 'failed', message: errorMessage(err) }
      log.error({ worker: index, err: errorMessage(err) }, 'pipeline worker crashed; stopping the others')
      stopAll()
    })
    members.push(member)
  }
  log.info({ workers: count }, 'pipelines started in worker threads')

  const server = await startServer(config, members, () => stopping, log)
  const onAbort = (): void => { stopAll() }
  if (options.signal.aborted) stopAll()
  else options.signal.addEventListener('abort', onAbort, { once: true })
  try {
    const codes = await Promise.all(members.map(async (m) => await m.exited))
    for (const m of members) {
      if (m.failure === undefined && m.stats === undefined) {
        m.failure = { type: 'failed', message: `worker ${m.index} exited (code ${codes[m.index] ?? '?'}) without a result` }
      }
    }
  } finally {
    if (leaveTimer !== undefined) clearTimeout(leaveTimer)
    options.signal.removeEventListener('abort', onAbort)
    await server?.close()
  }
  const failed = members.find((m) => m.failure !== undefined)?.failure
  if (failed !== undefined) {
    if (failed.config === true) throw new ConfigError('', failed.message)
    throw new SedimentError(ErrorCodes.SOURCE, `a pipeline worker failed: ${failed.message}`)
  }
  const total: SinkStats = { ...emptyCounters(), openFiles: 0, bufferedBytes: 0 }
  for (const m of members) for (const k of SinkCounters) total[k] += m.stats?.[k] ?? 0
  return total
}

/** The one /metrics, /healthz, /readyz for all workers (config.metrics), or undefined when disabled or unbound. */
async function startServer (config: SedimentConfig, members: Member[], stopping: () => boolean, log: ServiceOptions['logger']): Promise<OpsServer | undefined> {
  const m = config.metrics
  if (!m.enabled) return undefined
  // Process-level metrics (memory, CPU, event loop of the main thread) once, here; the workers leave them out.
  const processRegistry = new Registry()
  collectDefaultMetrics({ register: processRegistry })
  let nextId = 0
  const scrape = async (member: Member): Promise<Array<MetricObjectWithValues<MetricValue<string>>>> => {
    const id = nextId++
    return await new Promise((resolve) => {
      const timer = setTimeout(() => { member.scrapes.delete(id); resolve([]) }, SCRAPE_TIMEOUT_MS)
      member.scrapes.set(id, (list) => { clearTimeout(timer); member.scrapes.delete(id); resolve(list) })
      try {
        member.worker.postMessage({ type: 'scrape', id } satisfies ToWorker)
      } catch {
        clearTimeout(timer)
        resolve([])
      }
    })
  }
  const aggregated = {
    contentType: processRegistry.contentType,
    metrics: async (): Promise<string> => {
      const lists = await Promise.all(members.map(scrape))
      for (const list of lists) {
        // Summed like every counter and gauge of disjoint partitions, except readiness: ready only if all are.
        for (const metric of list) if (metric.name === MetricNames.READY) (metric as { aggregator?: string }).aggregator = 'min'
      }
      const registry = AggregatorRegistry.aggregate([await processRegistry.getMetricsAsJSON(), ...lists])
      return await registry.metrics()
    }
  } as unknown as Registry
  const readiness = (): Readiness => {
    if (stopping()) return { ready: false, reason: 'shutting down' }
    const notReady = members.find((x) => !x.readiness.ready)
    if (notReady !== undefined) return { ready: false, reason: `worker ${notReady.index}: ${notReady.readiness.reason}` }
    const partitions = members.reduce((n, x) => n + (x.readiness.partitions ?? 0), 0)
    return { ready: true, reason: `${members.length} workers consuming ${partitions} partitions`, partitions }
  }
  try {
    const server = await OpsServer.start({ host: m.host, port: m.port, registry: aggregated, readiness })
    log.info({ address: server.url, endpoints: ['/metrics', '/healthz', '/readyz'], workers: members.length }, 'metrics server listening')
    return server
  } catch (err) {
    log.error({ host: m.host, port: m.port, err: errorMessage(err) }, 'metrics server could not listen; running without /metrics, /healthz and /readyz')
    return undefined
  }
}
