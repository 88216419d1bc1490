import { setTimeout as sleep } from 'node:timers/promises'

export interface RetryOptions {
  /** First delay; doubles per attempt up to maxDelayMs, with full jitter (AWS's recommendation). */
  initialDelayMs?: number
  maxDelayMs?: number
  /** Checked before each attempt: when it returns an error, retrying stops by throwing it. */
  stop?: () => Error | undefined
  /** Errors for which retrying is pointless; they are rethrown at once. */
  isPermanent?: (err: unknown) => boolean
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** Give up after this many attempts (default: never; the caller's `stop` ends it). */
  maxAttempts?: number
}

/**
 * Runs `fn` until it succeeds. Used where giving up would lose data or leave a cut half-done: the caller's
 * `stop` (partition lost, sink destroyed) is the way out, not an attempt count.
 */
export async function retry<T> (fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const initial = options.initialDelayMs ?? 100
  const max = options.maxDelayMs ?? 10_000
  for (let attempt = 1; ; attempt++) {
    const stopped = options.stop?.()
    if (stopped !== undefined) throw stopped
    try {
      return await fn()
    } catch (err) {
      if (options.isPermanent?.(err) === true) throw err
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw err
      const delay = Math.round(Math.random() * Math.min(max, initial * 2 ** Math.min(attempt - 1, 20)))
      options.onRetry?.(err, attempt, delay)
      await sleep(delay)
    }
  }
}
