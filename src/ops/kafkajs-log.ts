/**
 * kafkajs' log entries mapped onto a pino logger, without the storm: an unreachable broker makes kafkajs log two
 * error lines with a stack for every internal retry (21 in 12 s). Sediment's own loops already say what matters
 * ("cannot reach Kafka, retrying", with the brokers and the next attempt), so:
 * - connection failures (refused, timed out, unknown host, "Failed to connect to seed broker") are logged as one
 *   warning per `intervalMs`, counting the ones in between (those go to debug, with their stacks);
 * - no entry carries kafkajs' stack (an error's stack is kept at debug level) or its duplicated timestamp/logger.
 */
import { logLevel as KafkaLogLevel, type LogEntry, type logCreator } from 'kafkajs'
import type { Logger } from 'pino'

export interface KafkajsLogOptions {
  /** At most one connection warning per interval. Default 30 s. */
  intervalMs?: number
  now?: () => number
}

const CONNECTION_FAILURE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|Connection (error|timeout)|Failed to connect|Closed connection/i

export function kafkajsLogCreator (logger: Logger, options: KafkajsLogOptions = {}): logCreator {
  const intervalMs = options.intervalMs ?? 30_000
  const now = options.now ?? Date.now
  /** When the last connection warning was logged, and how many were held back since. */
  let last: { at: number, held: number } | undefined
  return () => (entry: LogEntry) => {
    const { message, stack, timestamp: _timestamp, logger: _logger, ...extra } = entry.log as LogEntry['log'] & { stack?: unknown, logger?: unknown }
    const fields: Record<string, unknown> = { ...extra, namespace: entry.namespace }
    if (entry.level <= KafkaLogLevel.WARN && CONNECTION_FAILURE.test(message)) {
      const t = now()
      if (last !== undefined && t - last.at < intervalMs) {
        last.held++
        logger.debug({ ...fields, stack }, message)
        return
      }
      const held = last?.held ?? 0
      last = { at: t, held: 0 }
      logger.warn({
        ...(typeof extra.broker === 'string' ? { broker: extra.broker } : {}),
        err: message,
        ...(held > 0 ? { similarSinceLast: held } : {}),
        namespace: entry.namespace
      }, `Kafka connection failed, the client retries (one such line per ${Math.round(intervalMs / 1000)} s)`)
      return
    }
    if (stack !== undefined && logger.isLevelEnabled('debug')) fields.stack = stack
    if (entry.level <= KafkaLogLevel.ERROR) logger.error(fields, message)
    else if (entry.level === KafkaLogLevel.WARN) logger.warn(fields, message)
    else logger.debug(fields, message)
  }
}
