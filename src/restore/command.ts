/** `sediment restore`: argument parsing and the command (loaded lazily by src/cli.ts). */
import { parseArgs } from 'node:util'
import type { SedimentConfig } from '../config/types.js'
import { errorMessage, SedimentError } from '../errors.js'
import { createLogger } from '../logger.js'
import type { RestoreStats } from './restore.js'
import type { RestoreRange } from './select.js'

export interface RestoreInvocation {
  kind: 'restore'
  configFile: string
  sourceTopic: string
  targetTopic: string
  range: RestoreRange
  dryRun: boolean
  valuesOnly: boolean
  partitioning: 'source' | 'modulo'
  json: boolean
  batchRecords?: number
  idempotent: boolean
}

export const RESTORE_USAGE = `Usage: sediment restore --config FILE --topic T --target T2 [selection] [options]
  (restore must be the first argument)

  -t, --topic T          Source topic in the archive
  --target T2            Existing Kafka topic to produce to (default: the source topic)
  --from D, --to D       Time directories in [from, to): YYYY-MM-DD or YYYY-MM-DDTHH, in partition.timezone
  --from-offset N, --to-offset N
                         Committed cuts (manifests) overlapping offsets [N, M); with output.wrap records outside
                         are dropped, otherwise whole objects are restored
  -p, --partition P      With offsets: only source partition P (repeatable)
  --partitioning MODE    source (default): partition p goes to p; modulo: p mod the target's partition count
  --values-only          Allow archives without keys, headers and timestamps (anything but wrapped JSON lines)
  --dry-run              Count what would be produced; send and save nothing
  --json                 Print the final statistics as JSON
  --no-idempotence       Plain producer, for brokers that cannot assign producer ids (kafkajs does not retry
                         sends; a failed object is retried from the target's high watermark instead)
  --batch-records N      Records per Kafka produce request (default 1000; also bounded by 1 MiB)

Progress goes to stderr; the run is resumable: run the same command again after a crash.`

/** Throws Error with a usage message on a mistake. */
export function parseRestoreArgs (argv: readonly string[]): RestoreInvocation {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      config: { type: 'string', short: 'c' },
      topic: { type: 'string', short: 't' },
      target: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'from-offset': { type: 'string' },
      'to-offset': { type: 'string' },
      partition: { type: 'string', short: 'p', multiple: true },
      partitioning: { type: 'string' },
      'values-only': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      'batch-records': { type: 'string' },
      'no-idempotence': { type: 'boolean' }
    },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new Error(`restore: unexpected argument "${positionals[0]}"`)
  if (values.config === undefined || values.config === '') throw new Error('restore: --config FILE is required')
  if (values.topic === undefined || values.topic === '') throw new Error('restore: --topic T (the archived topic) is required')
  const byTime = values.from !== undefined || values.to !== undefined
  const byOffset = values['from-offset'] !== undefined || values['to-offset'] !== undefined || values.partition !== undefined
  if (byTime && byOffset) throw new Error('restore: select by time (--from/--to) or by offsets (--from-offset/--to-offset/--partition), not both')
  const int = (text: string | undefined, name: string): number | undefined => {
    if (text === undefined) return undefined
    if (!/^\d+$/.test(text)) throw new Error(`restore: ${name} must be a non-negative integer, got "${text}"`)
    return Number(text)
  }
  const partitioning = values.partitioning ?? 'source'
  if (partitioning !== 'source' && partitioning !== 'modulo') throw new Error(`restore: --partitioning must be source or modulo, got "${partitioning}"`)
  let range: RestoreRange
  if (byOffset) {
    const from = int(values['from-offset'], '--from-offset')
    const to = int(values['to-offset'], '--to-offset')
    const partitions = values.partition?.map((p) => int(p, '--partition') as number)
    range = { kind: 'offsets', ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), ...(partitions !== undefined ? { partitions } : {}) }
  } else {
    range = { kind: 'time', ...(values.from !== undefined ? { from: values.from } : {}), ...(values.to !== undefined ? { to: values.to } : {}) }
  }
  return {
    kind: 'restore',
    configFile: values.config,
    sourceTopic: values.topic,
    targetTopic: values.target ?? values.topic,
    range,
    dryRun: values['dry-run'] === true,
    valuesOnly: values['values-only'] === true,
    partitioning,
    json: values.json === true,
    idempotent: values['no-idempotence'] !== true,
    ...(values['batch-records'] !== undefined ? { batchRecords: Math.max(1, int(values['batch-records'], '--batch-records') as number) } : {})
  }
}

export function formatStats (s: RestoreStats): string {
  const rate = `${s.recordsPerSecond} records/s`
  const mb = (s.bytes / 1024 / 1024).toFixed(1)
  return `${s.dryRun ? 'would restore' : 'restored'}: objects ${s.objectsDone}/${s.objects}, records ${s.records}` +
    `${s.skipped > 0 ? ` (+${s.skipped} already in Kafka from an interrupted run)` : ''}, ${mb} MiB read, ${(s.elapsedMs / 1000).toFixed(1)} s, ${rate}`
}

export async function restoreCommand (
  config: SedimentConfig, invocation: RestoreInvocation, io: { stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream }
): Promise<number> {
  const { restore } = await import('./restore.js')
  const logger = createLogger({ level: config.log.level, destination: io.stderr })
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort(new Error('signal')) }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  try {
    const stats = await restore({
      config,
      sourceTopic: invocation.sourceTopic,
      targetTopic: invocation.targetTopic,
      range: invocation.range,
      dryRun: invocation.dryRun,
      valuesOnly: invocation.valuesOnly,
      partitioning: invocation.partitioning,
      logger,
      signal: controller.signal,
      idempotent: invocation.idempotent,
      ...(invocation.batchRecords !== undefined ? { batchRecords: invocation.batchRecords } : {}),
      onProgress: (s) => { io.stderr.write(`sediment restore: ${formatStats(s)}\n`) }
    })
    io.stdout.write(`${invocation.json ? JSON.stringify(stats) : formatStats(stats)}\n`)
    return 0
  } catch (err) {
    const code = err instanceof SedimentError ? ` [${err.code}]` : ''
    io.stderr.write(`sediment: restore failed${code}: ${errorMessage(err)}\n`)
    return 1
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
