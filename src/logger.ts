/**
 * The process logger: pino, JSON lines to stdout (or `destination`); with `pretty`, one readable line per entry
 * for a person at a terminal. Components log through `logger.child({ component: 'sink' })`.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions as PinoOptions } from 'pino'
import type { LogLevel } from './config/types.js'
import { redactValue } from './redact.js'
import { prettyDestination } from './pretty-log.js'

export type { Logger } from 'pino'

export interface LoggerOptions {
  level: LogLevel
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream
  /** Readable lines instead of JSON (`--pretty`, `log.pretty`). */
  pretty?: boolean
}

/**
 * Secrets must never reach a log line, whether a whole config, a section, an error or a message string is logged:
 * every argument of every call, and every child's bindings, go through redactValue (key names at any depth,
 * credentials inside URLs and strings by shape; see src/redact.ts). This runs before pino serializes, so errors
 * are redacted too.
 */
const hooks: PinoOptions['hooks'] = {
  logMethod (args, method) {
    method.apply(this, args.map(redactValue) as Parameters<typeof method>)
  }
}

export function createLogger (options: LoggerOptions): Logger {
  const settings: PinoOptions = { name: 'sediment', level: options.level, hooks }
  const logger = options.pretty === true
    ? pino(settings, prettyDestination(options.destination ?? process.stdout))
    : options.destination === undefined
      ? pino(settings)
      // A Node writable satisfies pino's DestinationStream (it only needs write(string)).
      : pino(settings, options.destination as unknown as DestinationStream)
  // pino applies formatters.bindings to the root only; a child is created from its parent by prototype, so this
  // one override covers the bindings of every descendant.
  const child = logger.child as unknown as (this: Logger, bindings: object, childOptions?: object) => Logger
  const redactingChild = function (this: Logger, bindings: object, childOptions?: object): Logger {
    return child.call(this, redactValue(bindings) as object, childOptions)
  }
  Object.assign(logger, { child: redactingChild })
  return logger
}
