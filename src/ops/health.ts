/**
 * Readiness, as /readyz reports it:
 *   - not ready until the current pipeline's consumer has joined the group (an assignment, possibly empty);
 *   - ready with an assignment, or with none when the group gave this process nothing (idle by design:
 *     more processes than partitions);
 *   - not ready while object-store writes have failed without a single success for longer than the threshold
 *     (the sink retries them forever, so without this a dead store would look healthy);
 *   - not ready once shutting down.
 * Liveness (/healthz) is only "the process answers".
 */
import { errorMessage } from '../errors.js'

export interface Readiness {
  ready: boolean
  reason: string
  /** Partitions assigned, when joined. */
  partitions?: number
}

export class Health {
  readonly #uploadFailureMs: number
  readonly #now: () => number
  #partitions: number | null = null
  #stopping = false
  #failingSince: number | null = null
  #lastError = ''

  constructor (options: { uploadFailureMs: number, now?: () => number }) {
    this.#uploadFailureMs = options.uploadFailureMs
    this.#now = options.now ?? Date.now
  }

  /** The consumer (re)joined the group with this many partitions. */
  joined (partitions: number): void {
    this.#partitions = partitions
  }

  /** The pipeline ended (failed or stopped): no consumer until the next one joins. */
  left (): void {
    this.#partitions = null
  }

  stopping (): void {
    this.#stopping = true
  }

  uploadFailed (err: unknown): void {
    this.#failingSince ??= this.#now()
    this.#lastError = errorMessage(err)
  }

  uploadSucceeded (): void {
    this.#failingSince = null
  }

  readiness (): Readiness {
    if (this.#stopping) return { ready: false, reason: 'shutting down' }
    if (this.#partitions === null) return { ready: false, reason: 'the Kafka consumer has not joined the group yet' }
    const partitions = this.#partitions
    if (this.#failingSince !== null) {
      const failingMs = this.#now() - this.#failingSince
      if (failingMs > this.#uploadFailureMs) {
        return { ready: false, reason: `uploads have been failing for ${Math.round(failingMs / 1000)} s: ${this.#lastError}`, partitions }
      }
    }
    return { ready: true, reason: partitions > 0 ? `consuming ${partitions} partitions` : 'idle: the group assigned no partitions to this process', partitions }
  }
}
