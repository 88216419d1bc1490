import { ConfigError } from '../errors.js'
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, civilFromDays } from './calendar.js'

/**
 * Tokens of a partition path template:
 * - time (local wall clock of the event time): `{YYYY}` `{MM}` `{DD}` `{HH}` `{mm}`, and `{mm:N}` = the minute
 *   rounded down to a multiple of N (N divides 60: 15-minute buckets are `{mm:15}`);
 * - `{topic}`;
 * - `{offset:N}` = the Kafka offset rounded down to a multiple of N (Secor's backup layout `offset=N`);
 * - `{name}` for any field the parser extracts (`parser.fields`), e.g. `type={eventType}/dt={YYYY}-{MM}-{DD}`.
 */
export const TemplateTokens = ['YYYY', 'MM', 'DD', 'HH', 'mm', 'mm:N', 'topic', 'offset:N', '<field>'] as const
export type TemplateToken = (typeof TemplateTokens)[number]

const TIME_TOKENS = ['YYYY', 'MM', 'DD', 'HH', 'mm'] as const

export const DEFAULT_TEMPLATE = 'dt={YYYY}-{MM}-{DD}/hr={HH}'

/** Hive's name for a partition whose value is null or empty; used for a missing field. */
export const MISSING_FIELD_VALUE = '__HIVE_DEFAULT_PARTITION__'
/** Longest rendered field value (bytes of the escaped value); longer values are cut (object keys are ≤ 1024 bytes). */
const MAX_FIELD_CHARS = 128

/** What a template may read from a record besides its time. */
export interface RecordValues {
  offset: number
  fields?: Record<string, string> | undefined
}

/** A partition path template compiled once; rendering runs only on cache misses (new bucket). */
export interface PathTemplate {
  /** The finest time unit used (ms): the time part of the path is constant within one such bucket of local time. */
  readonly unitMs: number
  /**
   * True when the path depends on more than time and topic (`{offset:N}`, fields): the caller must then key its
   * cache with `recordKey` as well.
   */
  readonly usesRecord: boolean
  /** The part of a record the path depends on, as a cache key ('' when `usesRecord` is false). */
  recordKey (record: RecordValues): string
  /** Renders the path for a local wall-clock time given as ms since 1970-01-01T00:00 local. */
  render (localMs: number, safeTopic: string, record?: RecordValues): string
}

type Part =
  | { kind: 'literal', text: string }
  | { kind: 'time', token: (typeof TIME_TOKENS)[number] }
  | { kind: 'minutes', every: number }
  | { kind: 'topic' }
  | { kind: 'offset', every: number }
  | { kind: 'field', name: string }

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Compiles and validates a template. `fieldNames` are the names the parser extracts (parser.fields); any other
 * `{name}` is an error, so a typo fails at start instead of writing `__HIVE_DEFAULT_PARTITION__` forever.
 */
export function compileTemplate (template: string, configPath = 'partition.template', fieldNames: readonly string[] = []): PathTemplate {
  if (typeof template !== 'string') throw new ConfigError(configPath, 'must be a string')
  const parts: Part[] = []
  const re = /\{([^{}]*)\}/g
  let last = 0
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push({ kind: 'literal', text: literal(template.slice(last, m.index), template, configPath) })
    parts.push(tokenPart(m[1] as string, configPath, fieldNames))
    last = re.lastIndex
  }
  if (last < template.length) parts.push({ kind: 'literal', text: literal(template.slice(last), template, configPath) })
  checkSegments(template, configPath)

  let unitMs = MS_PER_DAY
  for (const p of parts) {
    const unit = p.kind === 'minutes' ? p.every * MS_PER_MINUTE
      : p.kind === 'time' && p.token === 'mm' ? MS_PER_MINUTE
        : p.kind === 'time' && p.token === 'HH' ? MS_PER_HOUR
          : MS_PER_DAY
    unitMs = Math.min(unitMs, unit)
  }
  const recordParts = parts.filter((p): p is Extract<Part, { kind: 'offset' | 'field' }> => p.kind === 'offset' || p.kind === 'field')
  const usesRecord = recordParts.length > 0
  return {
    unitMs,
    usesRecord,
    recordKey (record: RecordValues): string {
      if (!usesRecord) return ''
      let key = ''
      for (const p of recordParts) key += `${p.kind === 'offset' ? offsetBucket(record.offset, p.every) : (record.fields?.[p.name] ?? '\u0000')}\u0001`
      return key
    },
    render (localMs: number, safeTopic: string, record?: RecordValues): string {
      const days = Math.floor(localMs / MS_PER_DAY)
      const msOfDay = localMs - days * MS_PER_DAY
      const { year, month, day } = civilFromDays(days)
      let out = ''
      for (const part of parts) {
        switch (part.kind) {
          case 'literal': out += part.text; break
          case 'topic': out += safeTopic; break
          case 'minutes': {
            const minute = Math.floor((msOfDay % MS_PER_HOUR) / MS_PER_MINUTE)
            out += pad2(minute - (minute % part.every))
            break
          }
          case 'offset': out += String(record === undefined ? 0 : offsetBucket(record.offset, part.every)); break
          case 'field': out += fieldSegment(record?.fields?.[part.name]); break
          case 'time':
            switch (part.token) {
              case 'YYYY': out += year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : String(year); break
              case 'MM': out += pad2(month); break
              case 'DD': out += pad2(day); break
              case 'HH': out += pad2(Math.floor(msOfDay / MS_PER_HOUR)); break
              case 'mm': out += pad2(Math.floor((msOfDay % MS_PER_HOUR) / MS_PER_MINUTE)); break
            }
        }
      }
      return out
    }
  }
}

/** Field names a template uses (`{name}` tokens that are not built in); for validating against parser.fields. */
export function templateFieldNames (template: string): string[] {
  const names: string[] = []
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    const token = m[1] as string
    if (!(TIME_TOKENS as readonly string[]).includes(token) && token !== 'topic' && !token.includes(':')) names.push(token)
  }
  return names
}

function tokenPart (token: string, configPath: string, fieldNames: readonly string[]): Part {
  if ((TIME_TOKENS as readonly string[]).includes(token)) return { kind: 'time', token: token as (typeof TIME_TOKENS)[number] }
  if (token === 'topic') return { kind: 'topic' }
  const bucket = /^(mm|offset):(\d+)$/.exec(token)
  if (bucket !== null) {
    const every = Number(bucket[2])
    if (bucket[1] === 'mm') {
      if (!(every >= 1 && every <= 60 && 60 % every === 0)) {
        throw new ConfigError(configPath, `{mm:N} needs N dividing 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60), got {${token}}`)
      }
      return { kind: 'minutes', every }
    }
    if (!(Number.isSafeInteger(every) && every >= 1)) throw new ConfigError(configPath, `{offset:N} needs an integer N >= 1, got {${token}}`)
    return { kind: 'offset', every }
  }
  if (FIELD_NAME.test(token) && fieldNames.includes(token)) return { kind: 'field', name: token }
  const allowed = '{YYYY} {MM} {DD} {HH} {mm} {mm:N} {topic} {offset:N}'
  const fields = fieldNames.length > 0 ? `, or a parser field: ${fieldNames.map(f => `{${f}}`).join(' ')}` : ' (or a field declared in parser.fields)'
  throw new ConfigError(configPath, `unknown token {${token}}; allowed: ${allowed}${fields}`)
}

function offsetBucket (offset: number, every: number): number {
  return offset - (offset % every)
}

/**
 * A field value as one path segment. Hive-style escaping (percent-encoding of '/', '%', '=', control and other
 * unsafe characters, and '.' when the whole value is dots) keeps it one segment, never '.' or '..'; query engines
 * decode it back. Missing or empty values get Hive's default-partition name.
 */
export function fieldSegment (value: string | undefined): string {
  if (value === undefined || value === '') return MISSING_FIELD_VALUE
  let out = value.replace(/[^A-Za-z0-9_.\-~ ]/gu, ch => {
    let s = ''
    for (const byte of Buffer.from(ch)) s += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
    return s
  })
  if (/^\.+$/.test(out)) out = out.replace(/\./g, '%2E')
  if (out.length > MAX_FIELD_CHARS) out = out.slice(0, MAX_FIELD_CHARS).replace(/%[0-9A-F]?$/, '')
  return out
}

function pad2 (n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

function literal (text: string, template: string, configPath: string): string {
  if (text.includes('{') || text.includes('}')) throw new ConfigError(configPath, `has an unbalanced brace: "${template}"`)
  return text
}

/**
 * Rendered values are digits, '-' (a negative year), a sanitised topic or an escaped field value, none of which
 * contains '/' or is '.'/'..', so the path segments are those of the template: checking them once here rules out
 * '..' or absolute paths.
 */
function checkSegments (template: string, configPath: string): void {
  if (template === '') return
  if (/[\u0000-\u001f\u007f\\]/.test(template)) throw new ConfigError(configPath, `must not contain control characters or "\\": "${template}"`)
  for (const segment of template.split('/')) {
    if (segment === '') throw new ConfigError(configPath, `must not start or end with "/" or contain "//": "${template}"`)
    if (segment === '.' || segment === '..') throw new ConfigError(configPath, `must not contain "." or ".." segments: "${template}"`)
  }
}
