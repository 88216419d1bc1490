/**
 * The `sediment` command line (run by bin/sediment.js).
 *
 * Exit codes: 0 ok; 1 runtime failure (verify: output incomplete or inconsistent); 2 usage or configuration error
 * (nothing was consumed); 130 second SIGINT.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadConfig } from './config/load.js'
import { envOverrides } from './config/options.js'
import type { SedimentConfig } from './config/types.js'
import { ConfigError, errorMessage } from './errors.js'
import { describeParser } from './stages/parsers/registry.js'
import { createLogger, type Logger } from './logger.js'
import { redactText } from './redact.js'
import { parseRestoreArgs, RESTORE_USAGE, type RestoreInvocation } from './restore/command.js'
import { describeKafkaSecurity } from './sources/kafka-security.js'

export const ExitCodes = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  INTERRUPTED: 130
} as const

/** Where the CLI prints; tests pass their own. Log lines of `run` go to the logger (stdout), not here. */
export interface CliIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

const Commands = ['run', 'validate', 'verify', 'finalize', 'restore', 'help'] as const
type Command = (typeof Commands)[number]

/** A mistake in how the command was invoked (exit 2, with a pointer to --help). */
class UsageError extends Error {
  constructor (message: string, readonly showUsage = false) {
    super(message)
  }
}

export async function main (
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr }
): Promise<number> {
  const print = (text: string): void => { io.stdout.write(`${text}\n`) }
  // A config error may quote a value (a URL with credentials in it): redacted like the logs.
  const fail = (text: string): void => { io.stderr.write(`sediment: ${redactText(text)}\n`) }

  let invocation: Invocation
  try {
    invocation = parseInvocation(argv)
  } catch (err) {
    fail(err instanceof UsageError && err.showUsage ? `${err.message}\n\n${usage()}` : `${errorMessage(err)}\nRun "sediment --help" for usage.`)
    return ExitCodes.USAGE
  }

  if (invocation.kind === 'version') {
    print(packageVersion())
    return ExitCodes.OK
  }
  if (invocation.kind === 'help') {
    print(usage())
    return ExitCodes.OK
  }

  let config: SedimentConfig
  try {
    config = await loadConfig(invocation.configFile, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    fail(`invalid configuration: ${err.message}`)
    return ExitCodes.USAGE
  }

  if ('pretty' in invocation && invocation.pretty) config = { ...config, log: { ...config.log, pretty: true } }
  if (invocation.kind === 'validate') {
    print(`config OK: ${invocation.configFile}`)
    print(summarizeConfig(config))
    return ExitCodes.OK
  }
  if (invocation.kind === 'verify') return await verify(config, invocation, io)
  if (invocation.kind === 'finalize') return await finalize(config, invocation, io)
  if (invocation.kind === 'restore') return await (await import('./restore/command.js')).restoreCommand(config, invocation, io)
  return await run(config)
}

interface RunInvocation {
  kind: 'run' | 'validate'
  configFile: string
  pretty: boolean
}

interface VerifyInvocation {
  kind: 'verify'
  configFile: string
  topics: string[]
  checksums: boolean
  json: boolean
  pretty: boolean
}

interface FinalizeInvocation {
  kind: 'finalize'
  configFile: string
  topics: string[]
  watch: boolean
  json: boolean
  pretty: boolean
}

type Invocation = { kind: 'version' } | { kind: 'help' } | RestoreInvocation | RunInvocation | VerifyInvocation | FinalizeInvocation

/** Options that only `verify` takes. */
const VerifyOptions = ['topic', 'no-checksums', 'json'] as const

function parseInvocation (argv: readonly string[]): Invocation {
  // restore has options of its own (src/restore/command.ts)
  if (argv[0] === 'restore') {
    if (argv.includes('--help') || argv.includes('-h')) return { kind: 'help' }
    try {
      return parseRestoreArgs(argv.slice(1))
    } catch (err) {
      throw new UsageError(`${argumentError(err)}\n\n${RESTORE_USAGE}`)
    }
  }
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        topic: { type: 'string', short: 't', multiple: true },
        'no-checksums': { type: 'boolean' },
        json: { type: 'boolean' },
        watch: { type: 'boolean', short: 'w' },
        pretty: { type: 'boolean' }
      },
      allowPositionals: true,
      strict: true
    })
  } catch (err) {
    throw new UsageError(argumentError(err))
  }
  const { values, positionals } = parsed
  const [name, ...extra] = positionals
  if (values.version === true) return { kind: 'version' }

  if (name !== undefined && !(Commands as readonly string[]).includes(name)) {
    throw new UsageError(`unknown command "${name}" (commands: ${Commands.join(', ')})`)
  }
  const command = name as Command | undefined
  // `run --help` and `help run` print the usage too.
  if (values.help === true || command === 'help') return { kind: 'help' }
  if (command === undefined) throw new UsageError('missing command', true)
  if (command === 'restore') throw new UsageError('restore must be the first argument: sediment restore --config FILE --topic T ...')
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  if (values.config === undefined || values.config === '') throw new UsageError(`${command}: --config FILE is required`)
  if (command !== 'finalize' && values.watch !== undefined) throw new UsageError(`${command}: --watch is an option of finalize`)
  const pretty = values.pretty === true
  if (command === 'finalize') {
    if (values['no-checksums'] !== undefined) throw new UsageError('finalize: --no-checksums is an option of verify')
    const topics = values.topic ?? []
    if (topics.some((t) => t === '')) throw new UsageError('finalize: --topic needs a topic name')
    return { kind: command, configFile: values.config, topics, watch: values.watch === true, json: values.json === true, pretty }
  }
  if (command === 'verify') {
    const topics = values.topic ?? []
    if (topics.some((t) => t === '')) throw new UsageError('verify: --topic needs a topic name')
    return { kind: command, configFile: values.config, topics, checksums: values['no-checksums'] !== true, json: values.json === true, pretty }
  }
  const misplaced = VerifyOptions.find((o) => values[o] !== undefined)
  if (misplaced !== undefined) throw new UsageError(`${command}: --${misplaced} is an option of verify`)
  return { kind: command, configFile: values.config, pretty }
}

/** The contract with src/workers (runService, N times with `workers`); annotating the import makes tsc check it. The result (stats) is logged. */
interface ServiceModule {
  runSediment: (config: SedimentConfig, options: { logger: Logger, signal: AbortSignal }) => Promise<unknown>
}

/** parseArgs' own message for an unknown option is long and odd ("...place it at the end of the command after '--'..."). */
function argumentError (err: unknown): string {
  const option = /^Unknown option '([^']+)'/.exec(errorMessage(err))?.[1]
  return option === undefined
    ? errorMessage(err)
    : `unknown option "${option}" (options: --config FILE, --pretty, --help, --version; verify: --topic T, --no-checksums, --json; finalize: --watch, --topic T, --json)`
}

/** Runs the service until SIGTERM/SIGINT; the first signal shuts down gracefully, a second SIGINT exits at once. */
async function run (config: SedimentConfig): Promise<number> {
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty })
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) {
      logger.info({ signal }, 'shutting down (send SIGINT again to exit immediately)')
      controller.abort(signal)
    } else if (signal === 'SIGINT') {
      logger.warn({ signal }, 'second SIGINT: exiting without a graceful shutdown')
      process.exit(ExitCodes.INTERRUPTED)
    } else {
      logger.info({ signal }, 'already shutting down')
    }
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // Signal listeners do not keep Node alive: without this, a service idle between sockets and timers would end
  // the process with exit code 0 while runService is still pending.
  const keepAlive = setInterval(() => {}, 2 ** 30)

  try {
    logger.info({ version: packageVersion(), config }, 'sediment starting')
    // Loaded lazily so that `validate` and `--help` never pull in Kafka and S3 clients.
    const { runSediment }: ServiceModule = await import('./workers/index.js')
    const stats = await runSediment(config, { logger, signal: controller.signal })
    if (!controller.signal.aborted) logger.warn('service stopped without a shutdown signal')
    logger.info({ stats }, 'sediment stopped')
    return ExitCodes.OK
  } catch (err) {
    logger.fatal({ err }, 'sediment failed')
    return ExitCodes.FAILURE
  } finally {
    clearInterval(keepAlive)
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}

/** The verify modules, loaded lazily like the service (they pull in the Kafka and S3 clients). */
interface VerifyModules {
  verify: typeof import('./verify/verify.js')
  report: typeof import('./verify/report.js')
  kafka: typeof import('./verify/kafka-offsets.js')
  service: Pick<typeof import('./service.js'), 'createStore'>
}

/**
 * Checks the bucket against the group's committed offsets: report on stdout, progress on stderr.
 * 0 complete and consistent; 1 anything else (missing, inconsistent, pending, or Kafka unreachable).
 */
async function verify (config: SedimentConfig, invocation: VerifyInvocation, io: CliIo): Promise<number> {
  const m: VerifyModules = {
    verify: await import('./verify/verify.js'),
    report: await import('./verify/report.js'),
    kafka: await import('./verify/kafka-offsets.js'),
    service: await import('./service.js')
  }
  const store = m.service.createStore(config)
  const kafka = m.kafka.connectKafkaOffsets(config.kafka)
  try {
    const report = await m.verify.verifyOutput({
      config,
      store,
      kafka,
      ...(invocation.topics.length > 0 ? { topics: invocation.topics } : {}),
      checksums: invocation.checksums,
      onProgress: (p) => { io.stderr.write(`sediment ${m.report.formatProgress(p)}\n`) }
    })
    io.stdout.write(`${invocation.json ? m.report.formatJson(report) : m.report.formatReport(report)}\n`)
    return report.ok ? ExitCodes.OK : ExitCodes.FAILURE
  } catch (err) {
    io.stderr.write(`sediment: verify failed: ${redactText(errorMessage(err))}\n`)
    return ExitCodes.FAILURE
  } finally {
    await kafka.close()
    await store.close()
  }
}

/** `sediment finalize`, loaded lazily like verify (Kafka, S3 and catalog clients). */
async function finalize (config: SedimentConfig, invocation: FinalizeInvocation, io: CliIo): Promise<number> {
  const { finalizeCommand } = await import('./finalizer/command.js')
  return await finalizeCommand(config, invocation, io)
}

export function usage (): string {
  const width = Math.max(...Object.keys(envOverrides).map(name => name.length))
  const envLines = Object.entries(envOverrides).map(([name, path]) => `  ${name.padEnd(width)}  ${path}`)
  return `Usage: sediment <command> [options]

Persist Kafka topics to S3 (or a local directory) under date-partitioned paths.

Commands:
  run        Consume and upload until SIGTERM/SIGINT (a second SIGINT exits immediately)
  validate   Check a config file and print a summary of the effective configuration
  verify     Check the output against the group's committed offsets: manifests chain without gaps or
             overlaps up to the commit, every listed object exists with its size and sha256, no orphans
  restore    Produce archived records back into a Kafka topic (resumable), see "sediment restore" below
  finalize   Mark complete time partitions (_SUCCESS) and register them in the configured catalog
             (Hive command, AWS Glue or Qubole), once every Kafka partition is past them; see the
             config's finalizer section. Idempotent; --watch repeats it every finalizer.intervalSeconds
  help       Show this help

Options:
  -c, --config FILE   Config file, YAML or JSON (required for run, validate, verify and finalize)
  --pretty            Readable log lines for a person at a terminal instead of JSON (log.pretty)
  -h, --help          Show this help
  -v, --version       Print the version

Options of verify:
  -t, --topic T       Verify only topic T (repeatable; default: the config's topics or topicPattern)
  --no-checksums      Check object sizes only, without reading the data
  --json              Print the report as JSON (progress goes to stderr either way)

Options of finalize:
  -w, --watch         Keep running, a pass every finalizer.intervalSeconds, until SIGTERM/SIGINT
  -t, --topic T       Finalize only topic T (repeatable)
  --json              Print the report as JSON

${RESTORE_USAGE}

Environment overrides (take precedence over the config file; empty values are ignored):
${envLines.join('\n')}
  SEDIMENT_KAFKA_BROKERS is comma-separated. The access key id and secret must be set together.
  Without sink.credentials, the AWS SDK default chain applies (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_SESSION_TOKEN, AWS_PROFILE, web identity, instance/container roles).

Exit codes:
  0    ok (run: stopped after a signal; verify: complete and consistent)
  1    runtime failure (verify: something missing or inconsistent, a commit pending, or Kafka unreachable;
       finalize: a topic or a catalog registration failed)
  2    usage or configuration error (nothing was consumed)
  130  interrupted by a second SIGINT`
}

/** A few lines an operator can eyeball; secrets are never printed. */
export function summarizeConfig (config: SedimentConfig): string {
  const { kafka, parser, partition, output, upload, sink } = config
  const topics = kafka.topics === undefined ? `pattern /${kafka.topicPattern ?? ''}/` : kafka.topics.join(', ')
  const security = describeKafkaSecurity(kafka)
  const compression = output.compression === 'gzip' ? `gzip level ${output.compressionLevel}` : 'uncompressed'
  const prefix = sink.prefix === '' ? '' : `${sink.prefix}/`
  const destination = sink.type === 's3'
    ? [
        `s3://${sink.bucket ?? ''}/${prefix}`,
        `region ${sink.region}`,
        sink.endpoint === undefined ? '' : `endpoint ${sink.endpoint}${sink.forcePathStyle ? ' (path style)' : ''}`,
        sink.credentials === undefined ? 'credentials from the AWS default chain' : 'static credentials (redacted)'
      ].filter(Boolean).join(', ')
    : sink.type === 'azure'
      ? `container ${sink.container ?? new URL(sink.containerUrl ?? 'https://x/').pathname.slice(1)}${prefix === '' ? '' : `, prefix ${prefix}`}, ${sink.connectionString !== undefined ? 'connection string' : 'SAS URL'} (redacted)`
      : `directory ${sink.directory ?? ''}${prefix === '' ? '' : `, prefix ${prefix}`}`
  const rows: Array<[string, string]> = [
    ['kafka', `${kafka.brokers.join(',')} (${security}), group ${kafka.groupId}, client ${kafka.clientId}`],
    ['topics', `${topics}, from ${kafka.autoOffsetReset} when the group has no offset`],
    ['parser', describeParser(parser)],
    ['partition', `${partition.template} (${partition.timezone})`],
    ['output', `${output.format}, ${compression}`],
    ['upload', `cut at ${bytes(upload.maxFileBytes)} raw or ${upload.maxFileAgeSeconds}s; parts ${bytes(upload.partSizeBytes)} x${upload.maxConcurrentParts}; buffer ${bytes(upload.maxBufferedBytes)}; ${upload.uploadOnShutdown ? 'upload' : 'discard'} on shutdown`],
    ['sink', `${sink.type}: ${destination}`],
    ['generation', String(config.generation)],
    ...(config.finalizer === undefined ? [] : [['finalizer', finalizerSummary(config.finalizer)] as [string, string]]),
    ['log level', `${config.log.level}${config.log.pretty ? ', pretty' : ', JSON'}; progress ${config.log.progressSeconds === 0 ? 'off' : `every ${config.log.progressSeconds}s`}`]
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  // Endpoints and registry URLs are printed: credentials inside them are not.
  return redactText(rows.map(([label, value]) => `  ${`${label}:`.padEnd(width + 1)}  ${value}`).join('\n'))
}

function finalizerSummary (f: NonNullable<SedimentConfig['finalizer']>): string {
  const c = f.catalog
  const target = c.type === 'none'
    ? 'markers only'
    : `${c.type} ${c.database}.${c.table}${c.type === 'qubole' ? ` (token from $${c.qubole?.tokenEnv ?? ''})` : ''}`
  return `delay ${f.delaySeconds}s, look back ${f.lookbackPeriods} periods, every ${f.intervalSeconds}s; ${target}${f.inRun ? '; also inside run' : ''}`
}

function bytes (n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`
  }
  return `${n} B`
}

let version: string | undefined
function packageVersion (): string {
  // ../package.json from both src/cli.ts and dist/cli.js.
  version ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  return version
}

/** True when this module was loaded by bin/sediment.js as the program (also through an npm bin symlink). */
function isProgram (): boolean {
  try {
    const bin = fileURLToPath(new URL('../bin/sediment.js', import.meta.url)) // same from src/ and dist/
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(bin)
  } catch {
    return false
  }
}

// Tests import `main` without running it.
if (isProgram()) {
  // Exit as soon as the command is done: a client library's leftover timer or socket (e.g. a reconnect a
  // rebalance started during shutdown) must not keep a stopped service alive.
  const exit = (code: number): void => { process.stdout.write('', () => { process.exit(code) }) }
  main(process.argv.slice(2), process.env).then(
    exit,
    err => {
      process.stderr.write(`sediment: unexpected error: ${redactText(err instanceof Error ? err.stack ?? err.message : String(err))}\n`)
      exit(ExitCodes.FAILURE)
    }
  )
}
