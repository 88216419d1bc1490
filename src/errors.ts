/** Every error Sediment raises carries a stable `code` (SEDIMENT_*) and, where there is one, the `cause`. */
export const ErrorCodes = {
  CONFIG: 'SEDIMENT_CONFIG',
  PARSE: 'SEDIMENT_PARSE',
  SOURCE: 'SEDIMENT_SOURCE',
  UPLOAD: 'SEDIMENT_UPLOAD',
  COMMIT: 'SEDIMENT_COMMIT',
  FENCED: 'SEDIMENT_FENCED',
  STORE: 'SEDIMENT_STORE',
  STATE: 'SEDIMENT_STATE',
  /** A partition's log is not the one the archive continues (topic deleted and recreated): the partition is stopped. */
  LOG_REPLACED: 'SEDIMENT_LOG_REPLACED',
  SHUTDOWN: 'SEDIMENT_SHUTDOWN'
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export class SedimentError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SedimentError'
    this.code = code
  }
}

/** Raised for an invalid configuration; `path` names the offending field, e.g. `upload.maxFileBytes`. */
export class ConfigError extends SedimentError {
  readonly path: string

  constructor (path: string, message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.CONFIG, path === '' ? message : `${path}: ${message}`, options)
    this.name = 'ConfigError'
    this.path = path
  }
}

/**
 * The partition was lost (rebalance, session timeout): this writer must not make anything visible for it.
 * `definite` is false when a commit was in flight as the group moved on, so whether it landed is unknown.
 */
export class FencedError extends SedimentError {
  readonly definite: boolean

  constructor (message: string, options?: { cause?: unknown, definite?: boolean }) {
    super(ErrorCodes.FENCED, message, options)
    this.name = 'FencedError'
    this.definite = options?.definite ?? true
  }
}

/** Kafka's answers to a commit or heartbeat from a member that no longer owns its partitions. */
const FENCING_TYPES = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID'])

/** True when `err` (or an error it wraps, as kafkajs does) is Kafka fencing this member. */
export function isKafkaFencingError (err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e != null && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type
    if (typeof type === 'string' && FENCING_TYPES.has(type)) return true
    e = (e as { originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause
  }
  return false
}

export function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
