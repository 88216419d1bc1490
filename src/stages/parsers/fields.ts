import type { KafkaRecord } from '../../types.js'
import { ConfigError } from '../../errors.js'
import { MISSING, compileFieldPath, type FieldGetter } from '../field-path.js'
import { kindOf } from './common.js'

/** Token names the partition template already uses for time and topic. */
const RESERVED = new Set(['YYYY', 'MM', 'DD', 'HH', 'mm', 'topic'])
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export interface FieldSpec {
  name: string
  path: string
}

/** Validates `parser.fields` (name → path) into a list; an empty mapping is no fields. */
export function fieldSpecs (fields: Readonly<Record<string, string>> | undefined, configPath = 'parser.fields'): FieldSpec[] {
  if (fields === undefined) return []
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new ConfigError(configPath, 'must be a mapping of token name to field path, like { eventType: meta.type }')
  }
  return Object.entries(fields).map(([name, path]) => {
    if (!NAME.test(name)) throw new ConfigError(`${configPath}.${name}`, 'the token name must be letters, digits and "_" (not starting with a digit)')
    if (RESERVED.has(name)) throw new ConfigError(`${configPath}.${name}`, `"${name}" is a built-in template token; choose another name`)
    if (typeof path !== 'string' || path === '' || path.split('.').some(key => key === '')) {
      throw new ConfigError(`${configPath}.${name}`, `must be a field name or dotted path like "meta.type", got ${JSON.stringify(path) ?? 'nothing'}`)
    }
    return { name, path }
  })
}

/**
 * Field values of a decoded record: strings as they are, numbers, bigints and booleans as text. An absent, null
 * or empty value leaves the field unset (the partition template decides what an unset token renders as); an
 * object or array makes the record bad (returned as the reason string), since it cannot name a directory.
 */
export type DocFields = (doc: object) => Record<string, string> | undefined | string

export function compileDocFields (specs: readonly FieldSpec[]): DocFields | null {
  if (specs.length === 0) return null
  const getters: Array<[string, string, FieldGetter]> = specs.map(s => [s.name, s.path, compileFieldPath(s.path, `parser.fields.${s.name}`)])
  return doc => {
    let out: Record<string, string> | undefined
    for (const [name, path, get] of getters) {
      const text = fieldText(get(doc))
      if (text === undefined) continue
      if (text === null) return `field "${path}" (for {${name}}) is ${kindOf(get(doc))}, expected a string, number or boolean`
      ;(out ??= {})[name] = text
    }
    return out
  }
}

/** undefined: unset; null: not usable. */
export function fieldText (value: unknown): string | undefined | null {
  switch (typeof value) {
    case 'string': return value === '' ? undefined : value
    case 'number': case 'bigint': case 'boolean': return String(value)
    case 'undefined': return undefined
    default:
      if (value === null || value === MISSING) return undefined
      return null
  }
}

/** Field values from Kafka headers (kafka-timestamp and header parsers, whose values are opaque). */
export function compileHeaderFields (specs: readonly FieldSpec[]): ((record: KafkaRecord) => Record<string, string> | undefined) | null {
  if (specs.length === 0) return null
  return record => {
    let out: Record<string, string> | undefined
    for (const { name, path } of specs) {
      const value = record.headers[path]
      const text = value === undefined ? '' : typeof value === 'string' ? value : value.toString('utf8')
      if (text !== '') (out ??= {})[name] = text
    }
    return out
  }
}
