/**
 * The process logger: pino, JSON lines to stdout (or `destination`). Components log through
 * `logger.child({ component: 'sink' })`.
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config/types.js'

export type { Logger } from 'pino'

export interface LoggerOptions {
  level: LogLevel
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream
}

const CENSOR = '[redacted]'

/**
 * Secrets must never reach a log line, whether a whole config, a section or a single object is logged.
 * Redaction paths have no recursive wildcard, so each secret is listed at every depth it can appear
 * (root, `{ sink }`, `{ config: { sink } }`, ...).
 */
const secretKeys = ['credentials', 'password', 'secretAccessKey', 'sessionToken', 'clientSecret', 'keyPassword', 'connectionString', 'containerUrl']
export const redactPaths: readonly string[] = [
  ...secretKeys,
  ...secretKeys.map(key => `*.${key}`),
  ...secretKeys.map(key => `*.*.${key}`),
  ...secretKeys.map(key => `*.*.*.${key}`),
  // Deeper or generically named secrets: a client secret under kafka.sasl.tokenEndpoint and an inline PEM client
  // key under kafka.ssl ("key" alone would hide every object key in the logs).
  ...['tokenEndpoint.clientSecret', 'ssl.key'].flatMap(p => [p, `*.${p}`, `*.*.${p}`, `*.*.*.${p}`])
]

export function createLogger (options: LoggerOptions): Logger {
  const settings = {
    name: 'sediment',
    level: options.level,
    redact: { paths: [...redactPaths], censor: CENSOR }
  }
  // A Node writable satisfies pino's DestinationStream (it only needs write(string)).
  return options.destination === undefined
    ? pino(settings)
    : pino(settings, options.destination as unknown as DestinationStream)
}
