/**
 * Which archived objects a restore reads, in the order it reads them: per source partition by first offset (the
 * data key carries both: `{generation}_{partition}_{firstOffset:20}{ext}`, see src/sinks/layout.ts).
 */
import { ErrorCodes, SedimentError } from '../errors.js'
import { manifestPrefix, type CutRecord } from '../sinks/layout.js'
import { joinKey, type ObjectStore } from '../sinks/object-store.js'
import { safeTopicSegment } from '../stages/topic-name.js'

export interface SourceObject {
  key: string
  partition: number
  firstOffset: number
  /** Last offset in the object, from its manifest (absent when no manifest names it). */
  lastOffset?: number
  /** Compressed size. */
  bytes: number
}

/**
 * `time`: objects under the topic whose time directory (the partition template's {YYYY} {MM} {DD} {HH}) lies in
 * [from, to); `from`/`to` are `YYYY-MM-DD` or `YYYY-MM-DDTHH`, in the template's time zone. Directory granular.
 * `offsets`: objects of committed cuts (manifests) overlapping [from, to) per partition; with `wrap`, records
 * outside the range are dropped, otherwise whole objects are restored.
 */
export type RestoreRange =
  | { kind: 'time', from?: string, to?: string }
  | { kind: 'offsets', from?: number, to?: number, partitions?: number[] }

const DATA_NAME = /^(\d+)_(\d+)_(\d{20})(\.[a-z.]+)$/

export async function selectObjects (store: ObjectStore, prefix: string, topic: string, template: string, range: RestoreRange): Promise<SourceObject[]> {
  const out = range.kind === 'time'
    ? await withLastOffsets(store, prefix, topic, await byTime(store, prefix, topic, template, range))
    : await byOffsets(store, prefix, topic, range)
  return out.sort((a, b) => a.partition - b.partition || a.firstOffset - b.firstOffset || (a.key < b.key ? -1 : 1))
}

/**
 * Sorted objects in restore units: objects of one partition whose offset ranges overlap form one unit, read
 * together and merged by offset. One cut writes a file per time directory, and when event times straddle an
 * hour those files interleave in offsets; restoring them one after another would reorder the partition.
 */
export function restoreUnits (objects: SourceObject[]): SourceObject[][] {
  const units: SourceObject[][] = []
  let unit: SourceObject[] = []
  let end = -1
  for (const o of objects) {
    const prev = unit[0]
    if (prev !== undefined && (prev.partition !== o.partition || o.firstOffset > end)) {
      units.push(unit)
      unit = []
      end = -1
    }
    unit.push(o)
    end = Math.max(end, o.lastOffset ?? o.firstOffset)
  }
  if (unit.length > 0) units.push(unit)
  return units
}

/**
 * Fills lastOffset from the manifests of the cuts that wrote the objects (per partition, only manifests whose
 * offset range reaches the listed objects are read).
 */
async function withLastOffsets (store: ObjectStore, prefix: string, topic: string, objects: SourceObject[]): Promise<SourceObject[]> {
  const span = new Map<number, { min: number, max: number }>()
  for (const o of objects) {
    const s = span.get(o.partition)
    span.set(o.partition, { min: Math.min(s?.min ?? o.firstOffset, o.firstOffset), max: Math.max(s?.max ?? o.firstOffset, o.firstOffset) })
  }
  const last = new Map<string, number>()
  for (const [partition, { min, max }] of span) {
    const root = `${manifestPrefix(prefix, topic)}${partition}/`
    for await (const { key } of store.list(root)) {
      const m = MANIFEST_NAME.exec(key.slice(root.length - String(partition).length - 1))
      if (m === null || Number(m[4]) <= min || Number(m[3]) > max) continue
      const body = await store.get(key)
      if (body === null) continue
      for (const f of (JSON.parse(body.toString('utf8')) as CutRecord).files) last.set(f.key, f.lastOffset)
    }
  }
  return objects.map((o) => last.has(o.key) ? { ...o, lastOffset: last.get(o.key) as number } : o)
}

/** `dt=2026-11-20/hr=07` → `2026-11-20T07` (comparable as text); undefined when the template has no date. */
export function timeMatcher (template: string): (dir: string) => string | undefined {
  const order: string[] = []
  let source = '^'
  let last = 0
  for (const m of template.matchAll(/\{([^}]+)\}/g)) {
    source += escape(template.slice(last, m.index))
    const token = m[1] as string
    if (token === 'YYYY') source += '(\\d{4})'
    else if (token === 'MM' || token === 'DD' || token === 'HH') source += '(\\d{2})'
    else source += '[^/]*'
    if (['YYYY', 'MM', 'DD', 'HH'].includes(token)) order.push(token)
    last = (m.index ?? 0) + m[0].length
  }
  source += escape(template.slice(last)) + '$'
  if (!order.includes('YYYY') || !order.includes('MM') || !order.includes('DD')) {
    return () => undefined
  }
  const re = new RegExp(source)
  return (dir) => {
    const m = re.exec(dir)
    if (m === null) return undefined
    const v: Record<string, string> = {}
    order.forEach((t, i) => { v[t] = m[i + 1] as string })
    return `${v.YYYY}-${v.MM}-${v.DD}T${v.HH ?? '00'}`
  }
}

function escape (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `2026-11-20` or `2026-11-20T07` → `2026-11-20T00` / `2026-11-20T07`. */
export function normalizeHour (text: string, what: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}))?$/.exec(text)
  if (m === null) throw new SedimentError(ErrorCodes.CONFIG, `restore: ${what} must be YYYY-MM-DD or YYYY-MM-DDTHH, got "${text}"`)
  return `${m[1] as string}T${m[2] ?? '00'}`
}

async function byTime (store: ObjectStore, prefix: string, topic: string, template: string, range: { from?: string, to?: string }): Promise<SourceObject[]> {
  const match = timeMatcher(template)
  const from = range.from === undefined ? undefined : normalizeHour(range.from, '--from')
  const to = range.to === undefined ? undefined : normalizeHour(range.to, '--to')
  if ((from !== undefined || to !== undefined) && !template.includes('{YYYY}')) {
    throw new SedimentError(ErrorCodes.CONFIG, `restore: partition.template "${template}" has no date; select by --from-offset/--to-offset instead`)
  }
  const root = joinKey(prefix, safeTopicSegment(topic)) + '/'
  const out: SourceObject[] = []
  for await (const { key, size } of store.list(root)) {
    const rest = key.slice(root.length)
    const slash = rest.lastIndexOf('/')
    const name = DATA_NAME.exec(rest.slice(slash + 1))
    if (name === null) continue // finalizer markers (_SUCCESS) and anything else not written by the sink
    if (from !== undefined || to !== undefined) {
      const hour = match(slash < 0 ? '' : rest.slice(0, slash))
      if (hour === undefined) continue
      if (from !== undefined && hour < from) continue
      if (to !== undefined && hour >= to) continue
    }
    out.push({ key, partition: Number(name[2]), firstOffset: Number(name[3]), bytes: size })
  }
  return out
}

const MANIFEST_NAME = /^(\d+)\/(\d+)_(\d{20})_(\d{20})\.json$/

async function byOffsets (store: ObjectStore, prefix: string, topic: string, range: { from?: number, to?: number, partitions?: number[] }): Promise<SourceObject[]> {
  const root = manifestPrefix(prefix, topic)
  const from = range.from ?? 0
  const to = range.to ?? Number.MAX_SAFE_INTEGER
  const errors = joinKey(prefix, '_errors') + '/'
  const out: SourceObject[] = []
  for await (const { key } of store.list(root)) {
    const m = MANIFEST_NAME.exec(key.slice(root.length))
    if (m === null) continue
    const partition = Number(m[1])
    if (range.partitions !== undefined && !range.partitions.includes(partition)) continue
    if (Number(m[4]) <= from || Number(m[3]) >= to) continue
    const body = await store.get(key)
    if (body === null) continue
    const cut = JSON.parse(body.toString('utf8')) as CutRecord
    for (const f of cut.files) {
      if (f.key.startsWith(errors) || f.lastOffset < from || f.firstOffset >= to) continue
      out.push({ key: f.key, partition, firstOffset: f.firstOffset, lastOffset: f.lastOffset, bytes: f.bytes })
    }
  }
  return out
}
