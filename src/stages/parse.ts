import { Transform, type TransformCallback } from 'node:stream'
import type { BadRecord, KafkaRecord, ParsedBatch, ParsedRecord, PipelineItem, RecordBatch } from '../types.js'
import { ParserLimits, type TimestampBoundsConfig } from '../config/types.js'
import { ConfigError } from '../errors.js'
import { parseIso } from './timestamp.js'
import { stageHighWaterMark, type StageStreamOptions } from './stream-options.js'
import { Reasons, badRecord, isoForReason, shortMessage, type LoadedParser, type ParseOutput } from './parsers/common.js'
import { planParser } from './parsers/registry.js'
import type { ParserOptions } from './parsers/parser-options.js'

export { Reasons } from './parsers/common.js'
export { jsonRecordParser, type RecordParser } from './parsers/json.js'

export interface ParseOptions extends StageStreamOptions, ParserOptions {
  /** Longer values (bytes) become BadRecords without being parsed (default 8 MiB, at least 1024). */
  maxMessageBytes?: number
  /**
   * Event-time bounds (see TimestampBoundsConfig): default no lower bound and at most 7 days ahead of now;
   * `maxFutureSeconds: 0` disables the upper bound.
   */
  timestampBounds?: Partial<TimestampBoundsConfig>
  /** Clock for the future bound, read once per batch (default Date.now; tests inject a fixed one). */
  now?: () => number
}

/**
 * RecordBatch → ParsedBatch. Every record ends up either in `good` (with its event time) or in `bad` (with a
 * reason): a bad message never throws and never vanishes. The one exception is a record a custom parser or
 * transformer filters out (returns null): it is counted in the batch's `filtered`. Other items pass through
 * unchanged and in order.
 */
export function parseStage (options: ParseOptions): ParseStage {
  return new ParseStage(options)
}

export class ParseStage extends Transform {
  /** Set once loaded; the JSON, kafka-timestamp, header, regex and msgpack parsers are ready at construction. */
  #parser: LoadedParser | undefined
  readonly #load: () => Promise<LoadedParser>
  #loading: Promise<void> | undefined
  readonly #maxMessageBytes: number
  /** -Infinity when there is no lower bound. */
  readonly #notBeforeMs: number
  /** 0 when the upper bound is disabled. */
  readonly #maxFutureMs: number
  readonly #now: () => number
  #filtered = 0

  constructor (options: ParseOptions) {
    const hwm = stageHighWaterMark(options, 'parser')
    super({ objectMode: true, highWaterMark: hwm })
    const plan = planParser(options)
    this.#parser = plan.ready
    this.#load = plan.load

    const maxBytes = options.maxMessageBytes ?? ParserLimits.DEFAULT_MAX_MESSAGE_BYTES
    if (!Number.isSafeInteger(maxBytes) || maxBytes < ParserLimits.MIN_MAX_MESSAGE_BYTES) {
      throw new ConfigError('parser.maxMessageBytes', `must be an integer >= ${ParserLimits.MIN_MAX_MESSAGE_BYTES}, got ${String(maxBytes)}`)
    }
    this.#maxMessageBytes = maxBytes

    const bounds = options.timestampBounds ?? {}
    const maxFuture = bounds.maxFutureSeconds ?? ParserLimits.DEFAULT_MAX_FUTURE_SECONDS
    if (!Number.isSafeInteger(maxFuture) || maxFuture < 0) {
      throw new ConfigError('parser.timestampBounds.maxFutureSeconds', `must be an integer >= 0 (0 disables the check), got ${String(maxFuture)}`)
    }
    this.#maxFutureMs = maxFuture * 1000
    const notBefore = bounds.notBefore ?? undefined
    this.#notBeforeMs = -Infinity
    if (notBefore !== undefined) {
      const ms = typeof notBefore === 'string' ? parseIso(notBefore) : NaN
      if (Number.isNaN(ms)) {
        throw new ConfigError('parser.timestampBounds.notBefore', `not an ISO-8601 date or date-time (e.g. "2020-01-01" or "2020-01-01T00:00:00Z"), got ${String(notBefore)}`)
      }
      this.#notBeforeMs = ms
    }
    this.#now = options.now ?? Date.now
  }

  /**
   * Loads what the parser needs (a .proto or .avsc file, a custom module and its init). Idempotent; the stage
   * awaits it before its first batch anyway, but a caller may await it first to fail before consuming anything
   * (the service does). Rejects with a ConfigError for a missing file, a bad schema or module.
   */
  async init (): Promise<void> {
    if (this.#parser !== undefined) return
    this.#loading ??= this.#load().then(parser => { this.#parser = parser })
    await this.#loading
  }

  /** Records filtered out by a custom parser or transformer since the stage was created. */
  get filtered (): number {
    return this.#filtered
  }

  override _transform (item: PipelineItem, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (item.kind !== 'batch') {
      callback(null, item)
      return
    }
    const parser = this.#parser
    if (parser === undefined) {
      this.init().then(() => { this._transform(item, _encoding, callback) }, callback)
      return
    }
    // Async work for the batch (schema-registry ids not seen yet) happens before the synchronous parse.
    const pending = parser.prepare?.(item.records)
    if (pending !== undefined) {
      pending.then(() => { callback(null, this.#parseBatch(item, parser)) }, callback)
      return
    }
    callback(null, this.#parseBatch(item, parser))
  }

  #parseBatch (batch: RecordBatch, parser: LoadedParser): ParsedBatch {
    const out: ParseOutput = { topic: batch.topic, good: [], bad: [], filtered: 0 }
    const { good, bad } = out
    const { records, partition } = batch
    const parse = parser.parse
    const maxBytes = this.#maxMessageBytes
    const notBeforeMs = this.#notBeforeMs
    // "now" once per batch: one clock read instead of thousands, and one consistent limit for the whole batch.
    const maxMs = this.#maxFutureMs === 0 ? Infinity : this.#now() + this.#maxFutureMs
    // The batch's event-time high mark travels with it to the commit metadata (a watermark for finalizers);
    // the bounds keep a far-future time out of it.
    let maxEventTime = -Infinity
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as KafkaRecord
      const value = record.value
      // Decided before any parsing, so a huge value is never scanned, decoded or copied here.
      if (value !== null && value.length > maxBytes) {
        bad.push(badRecord(record, partition, `${Reasons.TOO_LARGE} (${value.length} bytes > ${maxBytes})`))
        continue
      }
      const n = good.length
      const nBad = bad.length
      const nFiltered = out.filtered
      try {
        parse(value, record, partition, out)
      } catch (err) {
        // Parsers never throw by contract; one that does anyway must not fail the batch (the service would
        // restart from the last commit and meet this record again, forever): whatever it left for this message
        // is taken back and the message becomes one error record.
        good.length = n
        bad.length = nBad
        out.filtered = nFiltered
        bad.push(badRecord(record, partition, `${Reasons.PARSER_FAILED}: ${shortMessage(err)}`))
        continue
      }
      const end = good.length
      if (end === n) continue
      // Checked on the parsed records (rather than in each parser) so that every parser type shares one rule; a
      // rare violator is taken back out of `good` with its original bytes. One message may yield several records
      // (split: lines, a custom parser), each checked on its own.
      let w = n
      for (let k = n; k < end; k++) {
        const r = good[k] as ParsedRecord
        const ts = r.timestampMs
        if (ts >= notBeforeMs && ts <= maxMs) {
          if (ts > maxEventTime) maxEventTime = ts
          if (w !== k) good[w] = r
          w++
        } else {
          bad.push(this.#outOfBounds(record, partition, r, notBeforeMs, maxMs))
        }
      }
      if (w !== end) good.length = w
    }
    this.#filtered += out.filtered
    const parsed: ParsedBatch = {
      kind: 'parsed',
      topic: batch.topic,
      partition,
      epoch: batch.epoch,
      firstOffset: batch.firstOffset,
      nextOffset: batch.nextOffset,
      rawBytes: batch.rawBytes,
      ...(good.length > 0 ? { maxEventTime } : {}),
      good,
      bad
    }
    if (out.filtered > 0) parsed.filtered = out.filtered
    if (batch.skipped !== undefined) parsed.skipped = batch.skipped
    return parsed
  }

  #outOfBounds (record: KafkaRecord, partition: number, r: ParsedRecord, notBeforeMs: number, maxMs: number): BadRecord {
    const ts = r.timestampMs
    return badRecord(record, partition, ts < notBeforeMs
      ? `${Reasons.BEFORE_NOT_BEFORE} (${isoForReason(ts)} < ${isoForReason(notBeforeMs)})`
      : `${Reasons.TOO_FAR_IN_FUTURE} (${isoForReason(ts)} > ${isoForReason(maxMs)} = now + ${this.#maxFutureMs / 1000}s)`,
    r.raw ?? r.value)
  }
}

