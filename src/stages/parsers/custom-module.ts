import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { KafkaRecord, ParsedRecord } from '../../types.js'
import { ConfigError, errorMessage } from '../../errors.js'
import { MAX_DATE_MS } from '../calendar.js'
import { Reasons, badRecord, hasLineBreak, isRecordObject, kindOf, shortMessage, type ParseOutput, type ValueParser } from './common.js'
import type { CustomRecord, CustomTransform, ParserMessage, ParserModule, TransformInput } from './custom-module-api.js'
import type { EventTime } from './event-time.js'
import { compileDocFields, fieldText, type DocFields, type FieldSpec } from './fields.js'
import { renderDoc } from './render.js'

/**
 * Loads `parser.module` — a file path, resolved against `baseDir` when relative, imported once (ESM or CommonJS;
 * `.ts` too when running under tsx) — or takes a module object as is, checks it has what `use` needs, and awaits
 * its `init`. A default export that is an object is the module; a default export that is a function is `parse`
 * (use `parse`) or `transform` (use `transform`).
 */
export async function loadParserModule (spec: string | ParserModule, use: 'parse' | 'transform', baseDir = process.cwd()): Promise<ParserModule> {
  let mod: ParserModule
  if (typeof spec === 'string') {
    const file = isAbsolute(spec) ? spec : resolve(baseDir, spec)
    let imported: Record<string, unknown>
    try {
      imported = await import(pathToFileURL(file).href) as Record<string, unknown>
    } catch (err) {
      throw new ConfigError('parser.module', `cannot load ${file}: ${errorMessage(err)}`, { cause: err })
    }
    const fallback = imported.default
    if (typeof fallback === 'function') mod = { [use]: fallback } as ParserModule
    else if (typeof imported.parse === 'function' || typeof imported.transform === 'function') mod = imported as ParserModule
    else mod = (typeof fallback === 'object' && fallback !== null ? fallback : imported) as ParserModule
  } else if (typeof spec === 'object' && spec !== null) {
    mod = spec
  } else {
    throw new ConfigError('parser.module', 'must be a file path or a module object')
  }
  if (typeof mod[use] !== 'function') {
    const other = use === 'parse' ? 'parser.type "custom" needs a module exporting parse(message)' : `with parser.type other than "custom", the module must export transform(record, message)${typeof mod.parse === 'function' ? ' (it exports parse: set parser.type to "custom")' : ''}`
    throw new ConfigError('parser.module', other)
  }
  if (mod.init !== undefined) {
    try {
      await mod.init()
    } catch (err) {
      throw new ConfigError('parser.module', `init() failed: ${errorMessage(err)}`, { cause: err })
    }
  }
  return mod
}

export interface CustomOptions {
  eventTime: EventTime
  /** parser.fields, read from the doc of an object value. */
  fields?: readonly FieldSpec[]
}

/** The `custom` parser: the module's parse(message) decides everything. */
export function customParser (parse: NonNullable<ParserModule['parse']>, options: CustomOptions): ValueParser {
  const build = recordBuilder(options)
  return (value, record, partition, out) => {
    let result: unknown
    try {
      result = parse(parserMessage(value, record, partition, out))
    } catch (err) {
      out.bad.push(badRecord(record, partition, `custom parser: ${shortMessage(err)}`, value))
      return
    }
    if (result === null || result === undefined) {
      out.filtered++
      return
    }
    if (isThenable(result)) {
      out.bad.push(badRecord(record, partition, 'custom parser returned a Promise; parse must be synchronous (do asynchronous setup in init)', value))
      return
    }
    const results: unknown[] = Array.isArray(result) ? result : [result]
    if (results.length === 0) {
      out.filtered++
      return
    }
    for (const item of results) {
      const built = isRecordObject(item) ? build(item as CustomRecord, value, record, 'custom parser') : `custom parser returned ${kindOf(item)}, expected a record object`
      if (typeof built === 'string') out.bad.push(badRecord(record, partition, built, value))
      else out.good.push(built)
    }
  }
}

/**
 * Runs `transform` over every record `inner` produces: null filters a record out (counted), undefined keeps it,
 * a CustomRecord replaces what it sets, a throw makes it an error record.
 */
export function withTransform (inner: ValueParser, transform: CustomTransform, options: CustomOptions & { jsonDoc: boolean }): ValueParser {
  const { convert } = options.eventTime
  const jsonDoc = options.jsonDoc
  return (value, record, partition, out) => {
    const start = out.good.length
    inner(value, record, partition, out)
    const end = out.good.length
    if (end === start) return
    const message = parserMessage(value, record, partition, out)
    let w = start
    for (let k = start; k < end; k++) {
      const r = out.good[k] as ParsedRecord
      const input = new TransformRecord(r, jsonDoc)
      let result: unknown
      try {
        result = transform(input, message)
      } catch (err) {
        out.bad.push(badRecord(record, partition, `transform: ${shortMessage(err)}`, r.raw ?? r.value))
        continue
      }
      if (result === null) {
        out.filtered++
        continue
      }
      const applied = result === undefined ? r : isRecordObject(result) ? applyTransform(r, result as CustomRecord, value, convert) : `transform returned ${kindOf(result)}, expected a record object, null or undefined`
      if (typeof applied === 'string') out.bad.push(badRecord(record, partition, applied, r.raw ?? r.value))
      else out.good[w++] = applied
    }
    out.good.length = w
  }
}

class TransformRecord implements TransformInput {
  readonly offset: number
  timestamp: number
  value: Buffer
  fields: Record<string, string> | undefined
  readonly #record: ParsedRecord
  readonly #jsonDoc: boolean
  #doc: Record<string, unknown> | undefined

  constructor (record: ParsedRecord, jsonDoc: boolean) {
    this.offset = record.offset
    this.timestamp = record.timestampMs
    this.value = record.value
    this.fields = record.fields
    this.#record = record
    this.#jsonDoc = jsonDoc
    this.#doc = record.doc
  }

  /** The json parser leaves doc unset (its fast path never builds one): parsed here on first use. */
  get doc (): Record<string, unknown> | undefined {
    if (this.#doc === undefined && this.#jsonDoc) this.#doc = JSON.parse(this.#record.value.toString()) as Record<string, unknown>
    return this.#doc
  }
}

function applyTransform (r: ParsedRecord, result: CustomRecord, piece: Buffer | null, convert: EventTime['convert']): ParsedRecord | string {
  const out: ParsedRecord = { ...r }
  const t = result.timestamp
  if (t !== undefined && t !== null && t !== r.timestampMs) {
    const ms = timestampOf(t, convert)
    if (typeof ms === 'string') return `transform: ${ms}`
    out.timestampMs = ms
  }
  const v = result.value
  if (v !== undefined && v !== r.value) {
    const rendered = renderValue(v, 'transform')
    if (typeof rendered === 'string') return rendered
    out.value = rendered.value
    if (rendered.doc !== undefined) out.doc = rendered.doc
    else delete out.doc
    const original = r.raw ?? piece ?? undefined
    if (original !== undefined && original !== out.value) out.raw = original
  }
  if (result.fields !== undefined && result.fields !== r.fields) {
    const fields = customFields(result.fields, 'transform')
    if (typeof fields === 'string') return fields
    if (fields === undefined) delete out.fields
    else out.fields = fields
  }
  return out
}

/** Builds a good record from a custom parser's result, or returns the reason it is bad. */
function recordBuilder (options: CustomOptions): (result: CustomRecord, piece: Buffer | null, record: KafkaRecord, who: string) => ParsedRecord | string {
  const { convert, fallback } = options.eventTime
  const docFields: DocFields | null = compileDocFields(options.fields ?? [])
  return (result, piece, record, who) => {
    const t = result.timestamp
    const ms = t === undefined || t === null
      ? (fallback === null ? `${who} returned no timestamp` : fallback(record))
      : timestampOf(t, convert)
    if (typeof ms === 'string') return ms
    let value: Buffer
    let doc: Record<string, unknown> | undefined
    if (result.value === undefined) {
      if (piece === null) return `${who} returned no value for a tombstone`
      if (hasLineBreak(piece)) return Reasons.LINE_BREAK
      value = piece
    } else {
      const rendered = renderValue(result.value, who)
      if (typeof rendered === 'string') return rendered
      value = rendered.value
      doc = rendered.doc
    }
    const parsed: ParsedRecord = { offset: record.offset, value, timestampMs: ms, kafka: record }
    if (piece !== null && piece !== value) parsed.raw = piece
    if (doc !== undefined) parsed.doc = doc
    let fields: Record<string, string> | undefined
    if (docFields !== null && doc !== undefined) {
      const f = docFields(doc)
      if (typeof f === 'string') return f
      fields = f
    }
    if (result.fields !== undefined) {
      const own = customFields(result.fields, who)
      if (typeof own === 'string') return own
      if (own !== undefined) fields = { ...fields, ...own }
    }
    if (fields !== undefined) parsed.fields = fields
    return parsed
  }
}

function timestampOf (t: NonNullable<CustomRecord['timestamp']>, convert: EventTime['convert']): number | string {
  if (t instanceof Date) {
    const ms = t.getTime()
    if (Number.isNaN(ms)) return 'invalid Date timestamp'
    return ms < 0 ? 'negative timestamp' : ms > MAX_DATE_MS ? 'timestamp out of range' : ms
  }
  return convert(t)
}

function renderValue (v: NonNullable<CustomRecord['value']>, who: string): { value: Buffer, doc?: Record<string, unknown> } | string {
  if (typeof v === 'string' || v instanceof Uint8Array) {
    const value = typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)
    return hasLineBreak(value) ? `${who} returned a value with a line break` : { value }
  }
  if (!isRecordObject(v)) return `${who} returned a value that is ${kindOf(v)}, expected an object, a string or a Buffer`
  try {
    return renderDoc(v)
  } catch (err) {
    return `${who} returned a value that cannot be rendered as JSON: ${shortMessage(err)}`
  }
}

function customFields (fields: unknown, who: string): Record<string, string> | undefined | string {
  if (!isRecordObject(fields)) return `${who} returned fields that are ${kindOf(fields)}, expected an object`
  let out: Record<string, string> | undefined
  for (const [name, raw] of Object.entries(fields)) {
    const text = fieldText(raw)
    if (text === null) return `${who} returned field "${name}" as ${kindOf(raw)}, expected a string, number or boolean`
    if (text !== undefined) (out ??= {})[name] = text
  }
  return out
}

function parserMessage (value: Buffer | null, record: KafkaRecord, partition: number, out: ParseOutput): ParserMessage {
  return { topic: out.topic, partition, offset: record.offset, key: record.key, value, timestamp: record.timestamp, headers: record.headers }
}

function isThenable (value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
