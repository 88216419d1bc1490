import { isUtf8 } from 'node:buffer'
import { ConfigError } from '../../errors.js'
import type { ParsedRecord } from '../../types.js'
import { Reasons, badRecord, isWritableText, type ValueParser } from './common.js'
import type { EventTime } from './event-time.js'
import { compileDocFields, type FieldSpec } from './fields.js'

export interface RegexParserOptions {
  /** A JavaScript regular expression source (no surrounding slashes) with named groups. */
  pattern: string
  /** Any of d, i, m, s, u, v (g and y would make matching stateful). */
  flags?: string
  /** The group holding the event time. */
  timestampGroup: string
  eventTime: EventTime
  /** Field paths are group names here. */
  fields?: readonly FieldSpec[]
}

const FLAGS = /^[dimsuv]*$/
const GROUP = /\(\?<([A-Za-z_$][\w$]*)>/g

/** Compiles parser.regex; ConfigErrors name `parser.regex.*`. */
export function compileRegex (pattern: unknown, flags: unknown = '', configPath = 'parser.regex'): RegExp {
  if (typeof pattern !== 'string' || pattern === '') throw new ConfigError(`${configPath}.pattern`, 'is required for the regex parser: a regular expression with named groups, like "^(?<ts>\\\\S+) (?<level>\\\\w+)"')
  if (typeof flags !== 'string' || !FLAGS.test(flags) || new Set(flags).size !== flags.length) {
    throw new ConfigError(`${configPath}.flags`, `must be letters among d, i, m, s, u, v (each once), got ${JSON.stringify(flags)}`)
  }
  try {
    return new RegExp(pattern, flags)
  } catch (err) {
    throw new ConfigError(`${configPath}.pattern`, `must be a valid regular expression: ${(err as Error).message}`, { cause: err })
  }
}

/** The named groups a pattern declares. */
export function groupNames (pattern: string): string[] {
  return [...pattern.matchAll(GROUP)].map(m => m[1] as string)
}

/**
 * The `regex` parser for text messages (logs): the message must match the pattern; the event time is a named
 * group, read like any string timestamp (digits, ISO-8601, or parser.timestampFormat). The message is written as
 * is; `doc` holds the matched named groups (unmatched optional groups left out).
 */
export function regexParser (options: RegexParserOptions): ValueParser {
  const re = compileRegex(options.pattern, options.flags ?? '')
  const group = options.timestampGroup
  const { convert, fallback } = options.eventTime
  if (fallback === null && !groupNames(options.pattern).includes(group)) {
    throw new ConfigError('parser.regex.pattern', `has no named group "${group}" for the timestamp (parser.timestampField names the group), e.g. "(?<${group}>[^ ]+)"`)
  }
  const docFields = compileDocFields(options.fields ?? [])
  const noMatch = `no match for parser.regex.pattern /${options.pattern.length > 60 ? `${options.pattern.slice(0, 60)}…` : options.pattern}/`
  const missingReason = `timestamp group "${group}" did not match`
  return (value, record, partition, out) => {
    if (!isWritableText(value, record, partition, out)) return
    const text = value.toString()
    if (text.indexOf('\uFFFD') !== -1 && !isUtf8(value)) {
      out.bad.push(badRecord(record, partition, Reasons.INVALID_UTF8, value))
      return
    }
    const m = re.exec(text)
    if (m === null) {
      out.bad.push(badRecord(record, partition, noMatch, value))
      return
    }
    // A plain object (match groups have a null prototype) with only the groups that matched.
    const doc: Record<string, unknown> = {}
    const groups = m.groups
    if (groups !== undefined) {
      for (const key of Object.keys(groups)) {
        if (groups[key] === undefined) continue
        if (key === '__proto__') Object.defineProperty(doc, key, { value: groups[key], enumerable: true, writable: true, configurable: true })
        else doc[key] = groups[key]
      }
    }
    const raw = doc[group]
    const ms = raw === undefined ? (fallback === null ? missingReason : fallback(record)) : convert(raw)
    if (typeof ms === 'string') {
      out.bad.push(badRecord(record, partition, ms, value))
      return
    }
    const parsed: ParsedRecord = { offset: record.offset, value, timestampMs: ms, kafka: record, doc }
    if (docFields !== null) {
      const fields = docFields(doc)
      if (typeof fields === 'string') {
        out.bad.push(badRecord(record, partition, fields, value))
        return
      }
      if (fields !== undefined) parsed.fields = fields
    }
    out.good.push(parsed)
  }
}
