/**
 * Time partitions ("periods") of a partition template: which directories the last N periods render to and when
 * each ends (UTC), the reverse (when a rendered directory's period ends, for late data), and the Hive partition
 * values of a directory. Pure functions of the template and time zone: no I/O.
 */
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, daysFromCivil } from '../stages/calendar.js'
import { compileTemplate, templateFieldNames, type PathTemplate } from '../stages/path-template.js'
import { ZoneOffsets, isUtcZone } from '../stages/zone-offset.js'

/** One time partition of a topic: a directory below the topic and the UTC instants it covers, [startMs, endMs). */
export interface Period {
  dir: string
  startMs: number
  endMs: number
}

/** Every zone offset in use is a multiple of 15 minutes (see zone-offset.ts). */
const ZONE_STEP_MS = 15 * MS_PER_MINUTE
/** Extra time enumerated around a window, so DST days (23 or 25 hours) are never cut short. */
const MARGIN_MS = 3 * MS_PER_HOUR

const HIVE_SEGMENT = /^([A-Za-z_][A-Za-z0-9_]*)=/

/**
 * Why the finalizer cannot work with `template`, or undefined when it can. `hive`: a catalog is configured, so
 * every path segment must be a Hive-style `name=value` (the partition columns).
 */
export function finalizerTemplateProblem (template: string, hive: boolean): string | undefined {
  let compiled: PathTemplate
  try {
    compiled = compileTemplate(template, 'partition.template', templateFieldNames(template))
  } catch {
    return undefined // the template's own validation reports it
  }
  if (compiled.usesRecord) {
    return 'uses {offset:N} or a parser field; the finalizer handles templates of time tokens and {topic} only'
  }
  const tokens = new Set([...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] as string))
  if (!tokens.has('YYYY') || !tokens.has('MM') || !tokens.has('DD')) {
    return 'needs {YYYY}, {MM} and {DD} for the finalizer to tell when a partition ends'
  }
  if ((tokens.has('mm') || [...tokens].some((t) => t.startsWith('mm:'))) && !tokens.has('HH')) {
    return 'uses minutes without {HH}; the finalizer needs every coarser time unit in the path'
  }
  if (hive) {
    const names = new Set<string>()
    for (const segment of template.split('/')) {
      const name = HIVE_SEGMENT.exec(segment)?.[1]
      if (name === undefined) {
        return `segment "${segment}" is not a Hive-style name=value segment; a catalog needs them all (e.g. dt={YYYY}-{MM}-{DD}/hr={HH})`
      }
      if (names.has(name.toLowerCase())) return `partition column "${name}" appears twice`
      names.add(name.toLowerCase())
    }
  }
  return undefined
}

/** The Hive partition columns and values of a rendered directory (`dt=2026-11-20/hr=07` → [[dt, 2026-11-20], [hr, 07]]). */
export function hivePartitionValues (dir: string): Array<[string, string]> {
  return dir.split('/').map((segment) => {
    const eq = segment.indexOf('=')
    return eq < 0 ? ['', segment] : [segment.slice(0, eq), segment.slice(eq + 1)]
  })
}

interface DirParser {
  re: RegExp
  /** Capture group index per time token, 0 when absent. */
  groups: { YYYY: number, MM: number, DD: number, HH: number, mm: number }
}

export class PeriodCalendar {
  readonly unitMs: number
  readonly #template: PathTemplate
  readonly #zone: ZoneOffsets | null
  readonly #stepMs: number
  readonly #parser: DirParser

  constructor (template: string, timezone: string) {
    this.#template = compileTemplate(template, 'partition.template', templateFieldNames(template))
    this.unitMs = this.#template.unitMs
    this.#zone = isUtcZone(timezone) ? null : new ZoneOffsets(timezone)
    // Period boundaries in UTC are multiples of this: local boundaries are multiples of the unit, offsets of 15 min.
    this.#stepMs = gcd(this.unitMs, ZONE_STEP_MS)
    this.#parser = dirParser(template)
  }

  /**
   * The `count` latest periods that end at or before `toMs`, oldest first, with their directory for `safeTopic`.
   * A directory that occurs twice (the repeated hour when DST ends) ends at its later end.
   */
  periodsEndingBy (toMs: number, count: number, safeTopic: string): Period[] {
    const step = this.#stepMs
    const from = Math.floor((toMs - (count + 1) * this.unitMs - MARGIN_MS) / step) * step
    const until = toMs + this.unitMs + MARGIN_MS
    const byDir = new Map<string, Period>()
    for (let t = from; t < until; t += step) {
      const dir = this.#template.render(t + this.#offset(t), safeTopic)
      const p = byDir.get(dir)
      if (p === undefined) byDir.set(dir, { dir, startMs: t, endMs: t + step })
      else p.endMs = t + step
    }
    const periods = [...byDir.values()].filter((p) => p.endMs <= toMs && p.startMs > from)
    periods.sort((a, b) => a.endMs - b.endMs)
    return periods.slice(-count)
  }

  /** When the period of a rendered directory (below the topic) ends, UTC ms; undefined if it does not parse. */
  endOf (dir: string): number | undefined {
    const m = this.#parser.re.exec(dir)
    if (m === null) return undefined
    const g = this.#parser.groups
    const num = (i: number): number => (i === 0 ? 0 : Number(m[i]))
    const localStart = daysFromCivil(num(g.YYYY), num(g.MM), num(g.DD)) * MS_PER_DAY + num(g.HH) * MS_PER_HOUR + num(g.mm) * MS_PER_MINUTE
    const localEnd = localStart + this.unitMs
    if (!Number.isFinite(localEnd)) return undefined
    // local → UTC; the offset just before the end is the one in force during the period's last instant
    return localEnd - this.#offset(localEnd - this.#offset(localEnd) - 1)
  }

  #offset (utcMs: number): number {
    return this.#zone === null ? 0 : this.#zone.offsetAt(utcMs)
  }
}

function dirParser (template: string): DirParser {
  const groups = { YYYY: 0, MM: 0, DD: 0, HH: 0, mm: 0 }
  let source = '^'
  let last = 0
  let index = 0
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    source += escapeRe(template.slice(last, m.index))
    last = (m.index ?? 0) + m[0].length
    const token = m[1] as string
    if (token === 'topic') {
      source += '[^/]+'
    } else if (token === 'YYYY') {
      source += '(-?\\d{4,})'
      groups.YYYY = ++index
    } else if (token === 'MM' || token === 'DD' || token === 'HH' || token === 'mm' || token.startsWith('mm:')) {
      source += '(\\d{2})'
      groups[token.startsWith('mm') ? 'mm' : token as 'MM' | 'DD' | 'HH'] = ++index
    } else {
      source += '[^/]*'
    }
  }
  source += `${escapeRe(template.slice(last))}$`
  return { re: new RegExp(source), groups }
}

function escapeRe (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function gcd (a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}
