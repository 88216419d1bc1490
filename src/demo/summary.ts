/**
 * The demo's closing table: per time partition (directory) of the output, the records, files, stored and raw
 * bytes and the compression ratio, read back from the store (gzip files are inflated to count their lines).
 */
import { gunzipSync } from 'node:zlib'
import type { ObjectStore } from '../sinks/object-store.js'

export interface PartitionRow {
  /** Directory below the prefix, e.g. `weblogs/dt=2026-11-20/hr=06` or `_errors/weblogs/...`. */
  dir: string
  records: number
  files: number
  storedBytes: number
  rawBytes: number
}

export async function summarizeOutput (store: ObjectStore, prefix: string): Promise<PartitionRow[]> {
  const rows = new Map<string, PartitionRow>()
  for await (const o of store.list(prefix)) {
    const key = o.key.slice(prefix.length)
    if (key.startsWith('_sediment/')) continue // manifests and intents
    const dir = key.slice(0, key.lastIndexOf('/'))
    const body = await store.get(o.key)
    if (body === null) continue
    const raw = o.key.endsWith('.gz') ? gunzipSync(body) : body
    const row = rows.get(dir) ?? { dir, records: 0, files: 0, storedBytes: 0, rawBytes: 0 }
    row.files++
    row.storedBytes += o.size
    row.rawBytes += raw.length
    row.records += countLines(raw)
    rows.set(dir, row)
  }
  // data first, the error output below it
  const errorsLast = (r: PartitionRow): string => `${r.dir.startsWith('_errors/') ? 1 : 0}${r.dir}`
  return [...rows.values()].sort((a, b) => errorsLast(a).localeCompare(errorsLast(b)))
}

function countLines (b: Buffer): number {
  let n = 0
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++
  return n
}

export function formatTable (rows: PartitionRow[]): string {
  const total = rows.reduce((t, r) => ({ dir: 'total', records: t.records + r.records, files: t.files + r.files, storedBytes: t.storedBytes + r.storedBytes, rawBytes: t.rawBytes + r.rawBytes }),
    { dir: 'total', records: 0, files: 0, storedBytes: 0, rawBytes: 0 })
  const cells = [...rows, total].map(r => [r.dir, count(r.records), count(r.files), size(r.storedBytes), size(r.rawBytes), `${(r.rawBytes / Math.max(1, r.storedBytes)).toFixed(1)}x`])
  const header = ['PARTITION', 'RECORDS', 'FILES', 'STORED', 'RAW', 'SMALLER']
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map(c => (c[i] ?? '').length)))
  const line = (c: string[]): string => c.map((v, i) => i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0)).join('  ').trimEnd()
  const rule = widths.map(w => '-'.repeat(w)).join('  ')
  return [line(header), rule, ...cells.slice(0, -1).map(line), rule, line(cells.at(-1) ?? [])].map(l => `  ${l}`).join('\n')
}

function count (n: number): string {
  return n.toLocaleString('en-US')
}

function size (n: number): string {
  for (const [unit, s] of [['MB', 1e6], ['kB', 1e3]] as const) if (n >= s) return `${(n / s).toFixed(1)} ${unit}`
  return `${n} B`
}
