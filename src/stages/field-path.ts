import { ConfigError } from '../errors.js'

/** Returned by a FieldPath when the field is absent (distinct from a present `null`). */
export const MISSING: unique symbol = Symbol('missing')

export type FieldGetter = (doc: object) => unknown

/**
 * Compiles a dotted field path (`meta.ts`) once into a getter, so the per-record work is a few own-property
 * lookups with no string splitting. Only own properties count: a path like `constructor` must not find
 * Object.prototype members.
 */
export function compileFieldPath (path: string, configPath = 'parser.timestampField'): FieldGetter {
  if (typeof path !== 'string' || path === '') throw new ConfigError(configPath, 'must be a non-empty field name or dotted path')
  const keys = path.split('.')
  if (keys.some(key => key === '')) {
    throw new ConfigError(configPath, `must be a field name or dotted path like "meta.ts", got "${path}"`)
  }
  if (keys.length === 1) {
    const key = keys[0] as string
    return doc => Object.hasOwn(doc, key) ? (doc as Record<string, unknown>)[key] : MISSING
  }
  return doc => {
    let current: unknown = doc
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return MISSING
      current = (current as Record<string, unknown>)[key]
    }
    return current
  }
}
