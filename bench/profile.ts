/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and lists the functions with the most self samples, with their
 * TypeScript file:line (through the source maps the worker dumped, since tsx runs transformed code) and the
 * hottest lines inside each. Only the main thread is sampled: gzip runs in the libuv pool and shows up in CPU
 * seconds, not here. Samples are wall-clock: on a saturated machine a sample also lands where the main thread was
 * preempted (e.g. right after handing work to the thread pool), so "busy" is time on the main thread, not pure CPU.
 */
import { readFileSync } from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  positionTicks?: Array<{ line: number, ticks: number }>
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileEntry {
  function: string
  /** file:line of the function (TypeScript line for our sources). */
  location: string
  samples: number
  /** Share of the busy (non-idle) samples in the window. */
  percent: number
  /** The lines inside the function with the most samples, "file:line (n%)". */
  hotLines: string[]
}

export interface ProfileSummary {
  file: string
  /** Samples in the measured window, and how many of them were idle. */
  samples: number
  idlePercent: number
  windowed: boolean
  top: ProfileEntry[]
  /** Self samples by area (a package under node_modules, a folder of src/, node internals, GC...). */
  byArea: Array<{ area: string, percent: number }>
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)'])

export function summarizeProfile (
  file: string, options: { root: string, sourceMaps?: string, window?: [number, number], top?: number }
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const maps = new Map<string, SourceMap>()
  if (options.sourceMaps !== undefined) {
    try {
      const payloads = JSON.parse(readFileSync(options.sourceMaps, 'utf8')) as Record<string, SourceMapPayload>
      for (const [url, payload] of Object.entries(payloads)) maps.set(url, new SourceMap(payload))
    } catch {}
  }
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))

  // Which samples fall in the measured window (the profile covers the whole process, group join included).
  const [w0, w1] = options.window ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]
  const windowed = options.window !== undefined && w0 >= profile.startTime && w0 <= profile.endTime
  const counts = new Map<number, number>()
  let t = profile.startTime
  let total = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0
    if (windowed && (t < w0 || t > w1)) continue
    const id = profile.samples[i] as number
    total++
    if (nodes.get(id)?.callFrame.functionName === '(idle)') idle++
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  const busy = Math.max(1, total - idle)

  const where = (url: string, line0: number, column0: number): string => {
    if (url === '') return ''
    const map = maps.get(url)
    let path = url
    let line = line0 + 1
    if (map !== undefined) {
      const e = map.findEntry(line0, column0) as { originalSource?: string, originalLine?: number }
      if (e.originalSource !== undefined && e.originalLine !== undefined) {
        path = e.originalSource
        line = e.originalLine + 1
      }
    }
    if (path.startsWith('file://')) path = relative(options.root, fileURLToPath(path))
    return `${path}:${line}`
  }

  // Aggregate by function (nodes of the same function appear under many call paths).
  interface Agg { fn: string, location: string, samples: number, lines: Map<string, number>, area: string }
  const byFunction = new Map<string, Agg>()
  const byArea = new Map<string, number>()
  for (const [id, n] of counts) {
    const node = nodes.get(id)
    if (node === undefined) continue
    const cf = node.callFrame
    if (cf.functionName === '(idle)') continue
    const fn = cf.functionName === '' ? '(anonymous)' : cf.functionName
    const location = where(cf.url, cf.lineNumber, cf.columnNumber)
    const key = `${fn}\u0000${location}`
    let agg = byFunction.get(key)
    if (agg === undefined) {
      agg = { fn, location, samples: 0, lines: new Map(), area: areaOf(cf, location) }
      byFunction.set(key, agg)
    }
    agg.samples += n
    byArea.set(agg.area, (byArea.get(agg.area) ?? 0) + n)
    // positionTicks cover the node's whole life, not only the window: use them only to rank lines within it.
    // They carry no column, and tsx emits whitespace-minified code (one generated line), so they say nothing
    // about lines of our TypeScript: used for plain JavaScript (node_modules, node internals) only.
    const ticks = maps.has(cf.url) ? [] : node.positionTicks ?? []
    const tickTotal = ticks.reduce((s, p) => s + p.ticks, 0)
    for (const p of ticks) {
      const at = where(cf.url, p.line - 1, 0)
      agg.lines.set(at, (agg.lines.get(at) ?? 0) + (n * p.ticks) / Math.max(1, tickTotal))
    }
  }
  const top = [...byFunction.values()].sort((a, b) => b.samples - a.samples).slice(0, options.top ?? 15).map((a) => ({
    function: a.fn,
    location: a.location,
    samples: a.samples,
    percent: (100 * a.samples) / busy,
    hotLines: [...a.lines.entries()].sort((x, y) => y[1] - x[1]).slice(0, 3)
      .filter(([, n]) => n >= 0.5)
      .map(([at, n]) => `${at} (${((100 * n) / busy).toFixed(1)}%)`)
  }))
  return {
    file,
    samples: total,
    idlePercent: total === 0 ? 0 : (100 * idle) / total,
    windowed,
    top,
    byArea: [...byArea.entries()].sort((a, b) => b[1] - a[1]).map(([area, n]) => ({ area, percent: (100 * n) / busy }))
  }
}

function areaOf (cf: CallFrame, location: string): string {
  if (SPECIAL.has(cf.functionName)) return cf.functionName
  if (cf.url === '') return '(native / builtin)'
  if (cf.url.startsWith('node:')) return 'node internals'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(location)
  if (nm !== null) return nm[1] as string
  const m = /^(src\/[^/:]+|bench|test)/.exec(location)
  return m?.[1] ?? location.split(':')[0] ?? 'other'
}

export function formatProfile (p: ProfileSummary): string {
  const lines = [
    `CPU profile (main thread; ${p.samples} samples${p.windowed ? ' in the measured window' : ', whole process'}, ${p.idlePercent.toFixed(0)}% idle; % of busy samples): ${p.file}`,
    '',
    '| # | self % | function | location | hottest lines |',
    '| --: | --: | --- | --- | --- |',
    ...p.top.map((e, i) => `| ${i + 1} | ${e.percent.toFixed(1)} | ${e.function} | ${e.location || '—'} | ${e.hotLines.join(', ') || '—'} |`),
    '',
    `By area: ${p.byArea.slice(0, 10).map((a) => `${a.area} ${a.percent.toFixed(1)}%`).join(', ')}`
  ]
  return lines.join('\n')
}
