import { setTimeout as sleep } from 'node:timers/promises'

export interface RetryOptions {
  /** First delay; doubles per attempt up to maxDelayMs, with full jitter (AWS's recommendation). */
  initialDelayMs?: number
  maxDelayMs?: number
  /** Checked before each attempt: when it returns an error, retrying stops by throwing it. */
  stop?: () => Error | undefined
  /**
   * Ends the wait at once when aborted, even in the middle of an attempt that never answers (the attempt is
   * abandoned, its result ignored): no retry loop outlives a shutdown. Throws `stop()`'s error, or the reason.
   */
  signal?: AbortSignal
  /** Errors for which retrying is pointless; they are rethrown at once. */
  isPermanent?: (err: unknown) => boolean
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** Give up after this many attempts (default: never; the caller's `stop` ends it). */
  maxAttempts?: number
  /** Waits between attempts (tests drive time themselves); default: a timer that `signal` cuts short. */
  sleep?: (ms: number) => Promise<void>
}

/**
 * Runs `fn` until it succeeds. Used where giving up would lose data or leave a cut half-done: the caller's
 * `stop` (partition lost, sink destroyed) and `signal` are the way out, not an attempt count.
 */
export async function retry<T> (fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const initial = options.initialDelayMs ?? 100
  const max = options.maxDelayMs ?? 10_000
  const { signal } = options
  const stopped = (): Error | undefined => options.stop?.() ?? (signal?.aborted === true ? abortError(signal) : undefined)
  for (let attempt = 1; ; attempt++) {
    const error = stopped()
    if (error !== undefined) throw error
    try {
      return signal === undefined ? await fn() : await untilAborted(fn(), signal, stopped)
    } catch (err) {
      if (signal?.aborted === true) throw err
      if (options.isPermanent?.(err) === true) throw err
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw err
      const delay = Math.round(Math.random() * Math.min(max, initial * 2 ** Math.min(attempt - 1, 20)))
      options.onRetry?.(err, attempt, delay)
      if (options.sleep !== undefined) await options.sleep(delay)
      else await sleep(delay, undefined, signal === undefined ? undefined : { signal }).catch(() => {})
    }
  }
}

function abortError (signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted')
}

/** `p`, or a rejection as soon as `signal` aborts (p keeps running; its outcome is dropped). */
async function untilAborted<T> (p: Promise<T>, signal: AbortSignal, stopped: () => Error | undefined): Promise<T> {
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(stopped() ?? abortError(signal)) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  p.catch(() => {}) // an abandoned attempt must not become an unhandled rejection
  try {
    return await Promise.race([p, aborted])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
