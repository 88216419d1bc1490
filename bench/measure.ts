/**
 * Per-process measurements from /proc (Linux): peak RSS (VmHWM) and CPU seconds (utime + stime, all threads).
 * Every measured pipeline runs in its own process, so these numbers belong to one scenario run only.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let clockTicks: number | undefined

function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** Peak resident set size in bytes (VmHWM), or null when /proc has no such process. */
export function peakRssBytes (pid: number | 'self' = 'self'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)
    return m?.[1] === undefined ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

/** CPU seconds (user + system, every thread) a process has used so far, or null when it is gone. */
export function processCpuSeconds (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null
    return (utime + stime) / ticksPerSecond()
  } catch {
    return null
  }
}

/** CPU seconds the whole machine has been busy (all cores, /proc/stat), or null when unavailable. */
export function machineBusySeconds (): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0)
    return Number.isFinite(busy) ? busy / ticksPerSecond() : null
  } catch {
    return null
  }
}

/** This process's CPU seconds (user + system, all threads including the libuv pool that runs zlib). */
export function selfCpuSeconds (): number {
  const u = process.resourceUsage()
  return (u.userCPUTime + u.systemCPUTime) / 1e6
}

/** Monotonic clock in microseconds: the clock V8's CPU profiles use for their sample times. */
export function monotonicMicros (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** Child pids of a process (Linux ≥ 3.5 with CONFIG_PROC_CHILDREN; empty when unavailable). */
export function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number)
  } catch {
    return []
  }
}

export interface Percentiles {
  count: number
  p50: number
  p95: number
  max: number
}

export function percentiles (values: number[]): Percentiles | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] as number }
}
