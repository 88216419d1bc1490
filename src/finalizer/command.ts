/**
 * `sediment finalize --config FILE [--watch] [--topic T] [--json]`: one pass (report on stdout, log on stderr,
 * exit 0 when every topic was handled, 1 otherwise) or, with --watch, a pass every finalizer.intervalSeconds until
 * SIGTERM/SIGINT (log lines on stdout, like `run`).
 */
import type { SedimentConfig } from '../config/types.js'
import { ConfigError, errorMessage } from '../errors.js'
import { createLogger } from '../logger.js'
import { redactText } from '../redact.js'
import { createStore } from '../service.js'
import { connectKafkaOffsets } from '../verify/kafka-offsets.js'
import { Finalizer, type FinalizeReport } from './finalizer.js'

export interface FinalizeInvocation {
  watch: boolean
  topics: string[]
  json: boolean
}

export interface FinalizeIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** Exit codes as in cli.ts. */
const OK = 0
const FAILURE = 1
const USAGE = 2

export async function finalizeCommand (config: SedimentConfig, invocation: FinalizeInvocation, io: FinalizeIo): Promise<number> {
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, destination: invocation.watch ? io.stdout : io.stderr })
  const store = createStore(config)
  const kafka = connectKafkaOffsets(config.kafka)
  let finalizer: Finalizer
  try {
    finalizer = new Finalizer({ config, store, kafka, logger, ...(invocation.topics.length > 0 ? { topics: invocation.topics } : {}) })
  } catch (err) {
    await kafka.close()
    await store.close()
    if (!(err instanceof ConfigError)) throw err
    io.stderr.write(`sediment: invalid configuration: ${redactText(err.message)}\n`)
    return USAGE
  }
  try {
    if (!invocation.watch) {
      const report = await finalizer.finalizeOnce()
      // a catalog's error output can quote its JDBC or API URL
      io.stdout.write(`${redactText(invocation.json ? JSON.stringify(report, null, 2) : formatReport(report))}\n`)
      return report.ok ? OK : FAILURE
    }
    const controller = new AbortController()
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'finalizer stopping')
      controller.abort(signal)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    try {
      logger.info({ intervalSeconds: finalizer.settings.intervalSeconds, catalog: finalizer.settings.catalog.type }, 'finalizer watching')
      await finalizer.watch(controller.signal, (report) => {
        if (invocation.json) logger.info({ report }, 'finalizer run')
      })
      return OK
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
  } catch (err) {
    io.stderr.write(`sediment: finalize failed: ${redactText(errorMessage(err))}\n`)
    return FAILURE
  } finally {
    await finalizer.close().catch(() => {})
    await kafka.close()
    await store.close()
  }
}

/** One line per topic. */
export function formatReport (report: FinalizeReport): string {
  const lines: string[] = []
  if (report.error !== undefined) lines.push(`error: ${report.error}`)
  for (const t of report.topics) {
    const parts: string[] = []
    if (t.error !== undefined) parts.push(`error: ${t.error}`)
    parts.push(t.finalized.length === 0 ? 'nothing new finalized' : `finalized ${t.finalized.join(', ')}`)
    parts.push(t.completeThrough === null ? 'no partition complete yet' : `complete through ${new Date(t.completeThrough).toISOString()}`)
    if (t.pending !== undefined) parts.push(`next ${t.pending.dir} waits for ${t.pending.reason}`)
    lines.push(`${t.topic}: ${parts.join('; ')}`)
  }
  if (report.topics.length === 0 && report.error === undefined) lines.push('no topics')
  return lines.join('\n')
}
