import { ConfigError } from '../errors.js'
import { MAX_DATE_MS, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, daysFromCivil } from './calendar.js'

/** Names that are plain UTC: they take the integer fast path without Intl. */
const UTC_NAMES = new Set([
  'UTC', 'ETC/UTC', 'UCT', 'ETC/UCT', 'GMT', 'ETC/GMT', 'GMT0', 'ETC/GMT0', 'GMT+0', 'ETC/GMT+0', 'GMT-0',
  'ETC/GMT-0', 'ZULU', 'ETC/ZULU', 'UNIVERSAL', 'ETC/UNIVERSAL', 'GREENWICH', 'ETC/GREENWICH'
])

export function isUtcZone (timeZone: string): boolean {
  return UTC_NAMES.has(timeZone.toUpperCase())
}

/**
 * Every zone offset in use today (and every DST transition instant) is a multiple of 15 minutes, so the offset
 * is constant within a 15-minute UTC bucket. (Pre-1900 local mean times with odd offsets may be off by a
 * bucket at their one transition; irrelevant for event times.)
 */
const BUCKET_MS = 15 * MS_PER_MINUTE
/** ~42 days of 15-minute buckets: far more than the spread of event times in flight. */
const MAX_CACHED_BUCKETS = 4096

/**
 * UTC offset of an IANA zone at an instant, via Intl (which knows the tz database: DST, +05:30, +05:45, history)
 * but only once per 15-minute bucket: Intl formatting costs microseconds, far too much per record.
 */
export class ZoneOffsets {
  readonly #format: Intl.DateTimeFormat
  readonly #cache = new Map<number, number>()
  #lastBucket = Number.NaN
  #lastOffset = 0

  constructor (timeZone: string, configPath = 'partition.timezone') {
    try {
      this.#format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric'
      })
    } catch (err) {
      throw new ConfigError(configPath, `must be an IANA time zone like "UTC" or "Europe/Berlin", got "${timeZone}"`, { cause: err })
    }
  }

  /** Offset in ms to add to a UTC instant to get local wall-clock time. */
  offsetAt (utcMs: number): number {
    const bucket = Math.floor(utcMs / BUCKET_MS)
    if (bucket === this.#lastBucket) return this.#lastOffset
    let offset = this.#cache.get(bucket)
    if (offset === undefined) {
      offset = this.#compute(bucket * BUCKET_MS)
      if (this.#cache.size >= MAX_CACHED_BUCKETS) {
        // Evict the oldest insertion: buckets arrive roughly in time order.
        const oldest = this.#cache.keys().next()
        if (oldest.done !== true) this.#cache.delete(oldest.value)
      }
      this.#cache.set(bucket, offset)
    }
    this.#lastBucket = bucket
    this.#lastOffset = offset
    return offset
  }

  #compute (utcMs: number): number {
    // Intl cannot format instants outside the Date range; such times keep offset 0 (they only occur for garbage
    // Kafka timestamps of bad records, which still need some directory).
    if (!(Math.abs(utcMs) <= MAX_DATE_MS)) return 0
    let year = 0; let month = 1; let day = 1; let hour = 0; let minute = 0; let second = 0; let bc = false
    for (const part of this.#format.formatToParts(utcMs)) {
      switch (part.type) {
        case 'year': year = Number(part.value); break
        case 'month': month = Number(part.value); break
        case 'day': day = Number(part.value); break
        case 'hour': hour = Number(part.value); break
        case 'minute': minute = Number(part.value); break
        case 'second': second = Number(part.value); break
        case 'era': bc = part.value.startsWith('B'); break
        default: break
      }
    }
    if (bc) year = 1 - year
    const wall = daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * 1000
    return wall - utcMs
  }
}
