import { ConfigError } from '../errors.js'
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, civilFromDays } from './calendar.js'

export const TemplateTokens = ['YYYY', 'MM', 'DD', 'HH', 'mm', 'topic'] as const
export type TemplateToken = (typeof TemplateTokens)[number]

export const DEFAULT_TEMPLATE = 'dt={YYYY}-{MM}-{DD}/hr={HH}'

/** A partition path template compiled once; rendering runs only on cache misses (new hour/minute bucket). */
export interface PathTemplate {
  /** The finest time unit used (ms): the rendered path is constant within one such bucket of local time. */
  readonly unitMs: number
  /** Renders the path for a local wall-clock time given as ms since 1970-01-01T00:00 local. */
  render (localMs: number, safeTopic: string): string
}

type Part = { literal: string, token?: undefined } | { literal?: undefined, token: TemplateToken }

export function compileTemplate (template: string, configPath = 'partition.template'): PathTemplate {
  if (typeof template !== 'string') throw new ConfigError(configPath, 'must be a string')
  const parts: Part[] = []
  const re = /\{([^{}]*)\}/g
  let last = 0
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    const token = m[1] as string
    if (!(TemplateTokens as readonly string[]).includes(token)) {
      throw new ConfigError(configPath, `unknown token {${token}}; allowed: ${TemplateTokens.map(t => `{${t}}`).join(' ')}`)
    }
    if (m.index > last) parts.push({ literal: literal(template.slice(last, m.index), template, configPath) })
    parts.push({ token: token as TemplateToken })
    last = re.lastIndex
  }
  if (last < template.length) parts.push({ literal: literal(template.slice(last), template, configPath) })
  checkSegments(template, configPath)

  const uses = (token: TemplateToken): boolean => parts.some(p => p.token === token)
  const unitMs = uses('mm') ? MS_PER_MINUTE : uses('HH') ? MS_PER_HOUR : MS_PER_DAY
  return {
    unitMs,
    render (localMs: number, safeTopic: string): string {
      const days = Math.floor(localMs / MS_PER_DAY)
      const msOfDay = localMs - days * MS_PER_DAY
      const { year, month, day } = civilFromDays(days)
      let out = ''
      for (const part of parts) {
        switch (part.token) {
          case undefined: out += part.literal; break
          case 'YYYY': out += year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : String(year); break
          case 'MM': out += pad2(month); break
          case 'DD': out += pad2(day); break
          case 'HH': out += pad2(Math.floor(msOfDay / MS_PER_HOUR)); break
          case 'mm': out += pad2(Math.floor((msOfDay % MS_PER_HOUR) / MS_PER_MINUTE)); break
          case 'topic': out += safeTopic; break
        }
      }
      return out
    }
  }
}

function pad2 (n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

function literal (text: string, template: string, configPath: string): string {
  if (text.includes('{') || text.includes('}')) throw new ConfigError(configPath, `has an unbalanced brace: "${template}"`)
  return text
}

/**
 * Rendered values are digits, '-' (a negative year) or a sanitised topic, none of which contains '/', so the
 * path segments are those of the template: checking them once here rules out '..' or absolute paths.
 */
function checkSegments (template: string, configPath: string): void {
  if (template === '') return
  if (/[\u0000-\u001f\u007f\\]/.test(template)) throw new ConfigError(configPath, `must not contain control characters or "\\": "${template}"`)
  for (const segment of template.split('/')) {
    if (segment === '') throw new ConfigError(configPath, `must not start or end with "/" or contain "//": "${template}"`)
    if (segment === '.' || segment === '..') throw new ConfigError(configPath, `must not contain "." or ".." segments: "${template}"`)
  }
}
