/**
 * Late data: records committed into a time partition that was already finalized (its `_SUCCESS` exists). They
 * are written like any others — nothing is dropped — and counted here, so that an operator can see that the
 * finalizer's delay is too short for the topic (or re-run downstream jobs for that partition).
 *
 * Cheap by design: it listens to the sink's 'commit' events (object keys and record counts, no data), and checks
 * a directory's marker only once its period has ended more than `delay` ago (before that it cannot be final).
 * A marked directory is cached for good; an unmarked one is re-checked at most every few seconds (the finalizer,
 * usually another process, may mark it any time). In steady state that is no request at all; while catching up
 * on old periods it is at most one HEAD per directory and few seconds, next to the several requests per object.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { errorMessage } from '../errors.js'
import type { CommitEvent } from '../sinks/commit-protocol.js'
import { joinKey, type ObjectStore } from '../sinks/object-store.js'
import { Markers, MARKER_NAME } from './markers.js'
import { PeriodCalendar } from './periods.js'

export interface LateDataOptions {
  store: ObjectStore
  prefix: string
  template: string
  timezone: string
  delaySeconds: number
  logger: Logger
  now?: () => number
}

/** What a 'late' event carries: one committed object of a finalized partition. */
export interface LateData {
  topic: string
  /** Directory below the topic, e.g. `dt=2026-11-20/hr=07`. */
  dir: string
  key: string
  records: number
}

/** How long an unmarked directory's answer is trusted (the finalizer may mark it any time). */
const UNMARKED_TTL_MS = 5_000

/** Events: 'late' (LateData) for every committed object of a finalized partition. */
export class LateDataMonitor extends EventEmitter {
  readonly #o: LateDataOptions
  readonly #log: Logger
  readonly #calendar: PeriodCalendar
  readonly #markers: Markers
  readonly #root: string
  readonly #errorsRoot: string
  readonly #now: () => number
  /** Marker key → when it was last seen unmarked. */
  readonly #unmarked = new Map<string, number>()
  readonly #checking = new Map<string, Promise<boolean>>()
  readonly #pending = new Set<Promise<void>>()
  #lateRecords = 0
  #lateObjects = 0

  constructor (options: LateDataOptions) {
    super()
    this.#o = options
    this.#log = options.logger.child({ component: 'late-data' })
    this.#calendar = new PeriodCalendar(options.template, options.timezone)
    this.#markers = new Markers(options.store)
    this.#root = options.prefix === '' ? '' : `${options.prefix}/`
    this.#errorsRoot = `${joinKey(options.prefix, '_errors')}/`
    this.#now = options.now ?? Date.now
  }

  /** Late records counted since start (a counter for /metrics). */
  lateRecordsTotal (): number {
    return this.#lateRecords
  }

  /** Objects of late records committed since start. */
  lateObjectsTotal (): number {
    return this.#lateObjects
  }

  /** Listens to a sink's events (`sink.events`); returns the function that stops listening. */
  attach (events: EventEmitter): () => void {
    const onCommit = (e: CommitEvent): void => { this.observe(e) }
    events.on('commit', onCommit)
    return () => { events.off('commit', onCommit) }
  }

  /** Checks one committed cut (what attach does for every 'commit' event). */
  observe (e: Pick<CommitEvent, 'files'>): void {
    for (const f of e.files) {
      const where = this.#locate(f.key)
      if (where === undefined) continue
      const end = this.#calendar.endOf(where.dir)
      // A partition whose period has not been over for `delay` cannot be final yet: no HEAD for current data.
      if (end !== undefined && end + this.#o.delaySeconds * 1000 > this.#now()) continue
      const markerKey = joinKey(this.#o.prefix, where.topic, where.dir, MARKER_NAME)
      const check = this.#isMarked(markerKey).then((marked) => {
        if (!marked) return
        this.#lateRecords += f.records
        this.#lateObjects++
        const late: LateData = { topic: where.topic, dir: where.dir, key: f.key, records: f.records }
        this.#log.warn(late, 'late data: records committed into an already finalized partition')
        this.emit('late', late)
      }, (err: unknown) => {
        this.#log.debug({ key: markerKey, err: errorMessage(err) }, 'could not check a partition marker')
      }).finally(() => { this.#pending.delete(check) })
      this.#pending.add(check)
    }
  }

  /** Resolves when the checks started so far are done (tests, shutdown). */
  async settled (): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }

  /** Topic segment and directory of a data key (`{prefix}/{topic}/{dir}/{file}`); undefined for error output. */
  #locate (key: string): { topic: string, dir: string } | undefined {
    if (!key.startsWith(this.#root) || key.startsWith(this.#errorsRoot)) return undefined
    const parts = key.slice(this.#root.length).split('/')
    if (parts.length < 3 || parts[0] === '_sediment') return undefined
    return { topic: parts[0] as string, dir: parts.slice(1, -1).join('/') }
  }

  async #isMarked (key: string): Promise<boolean> {
    const seen = this.#unmarked.get(key)
    if (seen !== undefined && this.#now() - seen < UNMARKED_TTL_MS) return false
    let check = this.#checking.get(key)
    if (check === undefined) {
      check = this.#markers.isMarked(key).then((marked) => {
        if (marked) this.#unmarked.delete(key)
        else this.#unmarked.set(key, this.#now())
        return marked
      }).finally(() => { this.#checking.delete(key) })
      this.#checking.set(key, check)
    }
    return await check
  }
}
