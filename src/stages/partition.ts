import { Transform, type TransformCallback } from 'node:stream'
import { batchBase, type BadRecord, type OutputGroup, type ParsedBatch, type ParsedRecord, type PipelineItem, type RoutedBatch } from '../types.js'
import { MAX_DATE_MS } from './calendar.js'
import { errorLine } from './error-record.js'
import { shortMessage } from './parsers/common.js'
import { DEFAULT_TEMPLATE, compileTemplate, type PathTemplate, type RecordValues } from './path-template.js'
import { reservedTopicProblem, safeTopicSegment } from './topic-name.js'
import { ConfigError } from '../errors.js'
import { ZoneOffsets, isUtcZone } from './zone-offset.js'
import { stageHighWaterMark, type StageStreamOptions } from './stream-options.js'

export interface PartitionOptions extends StageStreamOptions {
  /** Path template below the topic (default `dt={YYYY}-{MM}-{DD}/hr={HH}`). */
  template?: string
  /** IANA time zone of the rendered wall-clock time (default UTC). */
  timezone?: string
  /** Names of the fields the parser extracts (parser.fields) that the template may use as `{name}`. */
  fields?: readonly string[]
  /** Sees every parsed batch before it is routed (the service's metrics count bad records and event times). */
  onParsed?: (batch: ParsedBatch) => void
}

/** Error output lives under this top-level directory: `_errors/{topic}/{rendered}`. */
export const ERRORS_DIR = '_errors'

/**
 * ParsedBatch → RoutedBatch: groups the records of a batch by output directory, keeping offset order within
 * each group (groups appear in order of their first record; good groups before error groups). Good records are
 * placed by event time, bad ones by their Kafka timestamp under `_errors/`. Other items pass through.
 */
export function partitionStage (options: PartitionOptions = {}): PartitionStage {
  return new PartitionStage(options)
}

export class PartitionStage extends Transform {
  readonly #onParsed: ((batch: ParsedBatch) => void) | undefined
  readonly #template: PathTemplate
  readonly #zone: ZoneOffsets | null
  readonly #templateIsEmpty: boolean
  readonly #topics = new Map<string, TopicDirs>()

  constructor (options: PartitionOptions = {}) {
    const hwm = stageHighWaterMark(options, 'partition')
    super({ objectMode: true, highWaterMark: hwm })
    this.#onParsed = options.onParsed
    const template = options.template ?? DEFAULT_TEMPLATE
    const timezone = options.timezone ?? 'UTC'
    this.#template = compileTemplate(template, 'partition.template', options.fields ?? [])
    this.#templateIsEmpty = template === ''
    this.#zone = isUtcZone(timezone) ? null : new ZoneOffsets(timezone)
  }

  override _transform (item: PipelineItem, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (item.kind !== 'parsed') {
      callback(null, item)
      return
    }
    let routed: RoutedBatch
    try {
      this.#onParsed?.(item)
      routed = this.#route(item)
    } catch (err) {
      callback(err as Error)
      return
    }
    callback(null, routed)
  }

  #route (batch: ParsedBatch): RoutedBatch {
    const dirs = this.#dirsFor(batch.topic)
    const groups: OutputGroup[] = []
    const byDir = new Map<string, OutputGroup>()
    // Consecutive records almost always share a directory: compare with the previous one (the cached strings
    // are identical objects, so this is a pointer comparison) before touching the map.
    let lastDir: string | undefined
    let group: OutputGroup | undefined

    const { good } = batch
    let bad = batch.bad
    const goodDirs = dirs.good
    // Good records that cannot be placed become error records (a throw here would fail the batch, and the
    // service would meet the same record again after every restart).
    let unplaced: BadRecord[] | undefined
    for (let i = 0; i < good.length; i++) {
      const record = good[i] as ParsedRecord
      let dir: string
      try {
        dir = goodDirs.dirAt(record.timestampMs, record)
      } catch (err) {
        ;(unplaced ??= []).push(unplacedRecord(record, batch.partition, err))
        continue
      }
      if (dir !== lastDir || group === undefined) {
        group = groupFor(byDir, groups, dir, false)
        lastDir = dir
      }
      group.offsets.push(record.offset)
      group.values.push(record.value)
      ;(group.records as ParsedRecord[]).push(record)
    }
    // Offset order within each error group (a stable sort: the records of one split message keep theirs).
    if (unplaced !== undefined) bad = [...bad, ...unplaced].sort((a, b) => a.offset - b.offset)
    const errorDirs = dirs.errors
    for (let i = 0; i < bad.length; i++) {
      const record = bad[i] as BadRecord
      let dir: string
      try {
        dir = errorDirs.dirAt(record.timestamp, record)
      } catch {
        dir = errorDirs.base // an error record is never dropped: the topic's error directory without the template
      }
      if (dir !== lastDir || group === undefined) {
        group = groupFor(byDir, groups, dir, true)
        lastDir = dir
      }
      group.offsets.push(record.offset)
      group.values.push(errorLine(record))
    }

    return {
      kind: 'routed',
      ...batchBase(batch),
      groups
    }
  }

  #dirsFor (topic: string): TopicDirs {
    let dirs = this.#topics.get(topic)
    if (dirs === undefined) {
      // Not a record's fault but the configuration's (a topicPattern matched it): no record of it is written.
      const reserved = reservedTopicProblem(topic)
      if (reserved !== undefined) throw new ConfigError('kafka.topicPattern', reserved)
      const segment = safeTopicSegment(topic)
      dirs = {
        good: new DirCache(segment, segment, this.#template, this.#templateIsEmpty, this.#zone),
        errors: new DirCache(`${ERRORS_DIR}/${segment}`, segment, this.#template, this.#templateIsEmpty, this.#zone)
      }
      this.#topics.set(topic, dirs)
    }
    return dirs
  }
}

/** A good record the template could not place, as an error record with its original bytes. */
function unplacedRecord (record: ParsedRecord, partition: number, err: unknown): BadRecord {
  return {
    offset: record.offset,
    partition,
    timestamp: record.kafka?.timestamp ?? record.timestampMs,
    reason: `cannot be placed by partition.template: ${shortMessage(err)}`,
    value: record.raw ?? record.value
  }
}

interface TopicDirs {
  good: DirCache
  errors: DirCache
}

function groupFor (byDir: Map<string, OutputGroup>, groups: OutputGroup[], dir: string, errors: boolean): OutputGroup {
  let group = byDir.get(dir)
  if (group === undefined) {
    group = errors ? { dir, errors, offsets: [], values: [] } : { dir, errors, offsets: [], values: [], records: [] }
    byDir.set(dir, group)
    groups.push(group)
  }
  return group
}

/** Rendered directories per time bucket (hour or minute of local time), bounded like the zone cache. */
const MAX_CACHED_DIRS = 4096

/**
 * Directory names of one topic (data or errors) by time: rendering happens once per local time bucket (and, for
 * templates with `{offset:N}` or fields, per distinct record value).
 */
class DirCache {
  readonly #base: string
  readonly #topicSegment: string
  readonly #template: PathTemplate
  readonly #templateIsEmpty: boolean
  readonly #zone: ZoneOffsets | null
  readonly #unitMs: number
  readonly #cache = new Map<number | string, string>()
  #lastKey: number | string = Number.NaN
  #lastDir = ''

  constructor (base: string, topicSegment: string, template: PathTemplate, templateIsEmpty: boolean, zone: ZoneOffsets | null) {
    this.#base = base
    this.#topicSegment = topicSegment
    this.#template = template
    this.#templateIsEmpty = templateIsEmpty
    this.#zone = zone
    this.#unitMs = template.unitMs
  }

  /** The directory without the rendered template. */
  get base (): string {
    return this.#base
  }

  dirAt (utcMs: number, record: RecordValues): string {
    // Times from a foreign producer of ParsedBatch/BadRecord may be garbage: keep them renderable.
    if (!(utcMs >= -MAX_DATE_MS && utcMs <= MAX_DATE_MS)) utcMs = Number.isNaN(utcMs) ? 0 : Math.sign(utcMs) * MAX_DATE_MS
    const local = this.#zone === null ? utcMs : utcMs + this.#zone.offsetAt(utcMs)
    const bucket = Math.floor(local / this.#unitMs)
    // The common template depends on time only: a numeric key and no per-record string building.
    const key = this.#template.usesRecord ? `${bucket}\u0001${this.#template.recordKey(record)}` : bucket
    if (key === this.#lastKey) return this.#lastDir
    let dir = this.#cache.get(key)
    if (dir === undefined) {
      dir = this.#templateIsEmpty ? this.#base : `${this.#base}/${this.#template.render(bucket * this.#unitMs, this.#topicSegment, record)}`
      if (this.#cache.size >= MAX_CACHED_DIRS) {
        const oldest = this.#cache.keys().next()
        if (oldest.done !== true) this.#cache.delete(oldest.value)
      }
      this.#cache.set(key, dir)
    }
    this.#lastKey = key
    this.#lastDir = dir
    return dir
  }
}
