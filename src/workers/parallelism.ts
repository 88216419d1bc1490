/**
 * How many pipelines `workers: auto` runs: the cores this process may use. os.availableParallelism() counts the
 * CPUs of the affinity mask but (on Node 20) not a container's CPU quota, so a pod limited to 2 CPUs on a
 * 64-core node would start 64 pipelines; the cgroup quota (v2 cpu.max, v1 cfs quota/period) bounds it.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** CPUs allowed by the cgroup quota (rounded up, at least 1), or undefined when there is no quota. */
export function cgroupCpuLimit (read: (file: string) => string | undefined = readOrUndefined): number | undefined {
  // cgroup v2: "max 100000" (no limit) or "<quota> <period>"
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/)
  if (v2 !== undefined && v2.length === 2) {
    if (v2[0] === 'max') return undefined
    return cores(Number(v2[0]), Number(v2[1]))
  }
  // cgroup v1: quota -1 = no limit
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim())
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim())
  return quota > 0 ? cores(quota, period) : undefined
}

function cores (quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined
  return Math.max(1, Math.ceil(quota / period))
}

function readOrUndefined (file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The cores this process may use: the affinity mask's CPUs, bounded by the cgroup CPU quota. */
export function usableCores (): number {
  const limit = cgroupCpuLimit()
  const cpus = availableParallelism()
  return Math.max(1, limit === undefined ? cpus : Math.min(cpus, limit))
}

/** The number of pipelines for a `workers` setting (default 1). */
export function resolveWorkers (setting: number | 'auto' | undefined): number {
  if (setting === undefined) return 1
  return setting === 'auto' ? usableCores() : setting
}
