/**
 * Baselines that are not Node: `kcat -C ... | gzip -6` (consume + compress, the C ceiling) and `gzip -6` of a file
 * (compression alone). Each runs as its own process group; CPU seconds and peak RSS come from GNU time when
 * /usr/bin/time exists (per process, summed over the pipeline), otherwise CPU from bash's `times` and no RSS.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const GNU_TIME = '/usr/bin/time'

export interface ShellResult {
  elapsedMs: number
  cpuSeconds: number | null
  peakRssBytes: number | null
  /** What the pipeline printed on stdout (here: the compressed size from `wc -c`). */
  stdout: string
  stderr: string
  exitCode: number | null
  timedOut: boolean
  /** ms from spawn until stderr first matched `markStderr` (null: never, or not asked). */
  markMs: number | null
}

export function haveCommand (name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    child.once('error', () => { resolve(false) })
    child.once('exit', (code) => { resolve(code === 0) })
  })
}

function quote (s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`
}

/**
 * Runs `stages` (argv arrays) as a shell pipeline `a | b | ... | wc -c`, with `input` as the first stage's stdin.
 * Elapsed time is from spawn to exit (so it includes process start and, for kcat, connecting).
 */
export async function runPipeline (stages: string[][], options: { input?: string, timeoutMs: number, onTick?: (elapsedMs: number) => void, markStderr?: RegExp }): Promise<ShellResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-bench-sh-'))
  const timed = existsSync(GNU_TIME)
  const timeFiles = stages.map((_, i) => join(dir, `time-${i}`))
  const parts = stages.map((argv, i) => {
    const cmd = argv.map(quote).join(' ')
    const wrapped = timed ? `${GNU_TIME} -f '%U %S %M' -o ${quote(timeFiles[i] as string)} ${cmd}` : cmd
    return i === 0 && options.input !== undefined ? `${wrapped} < ${quote(options.input)}` : wrapped
  })
  const script = `set -o pipefail; ${parts.join(' | ')} | wc -c; rc=$?; times > ${quote(join(dir, 'times'))}; exit $rc`
  const started = performance.now()
  const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  let markMs: number | null = null
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-200_000)
    if (markMs === null && options.markStderr?.test(stderr) === true) markMs = performance.now() - started
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    // the pipeline is its own process group (detached): end all of it
    if (child.pid !== undefined) try { process.kill(-child.pid, 'SIGKILL') } catch {}
  }, options.timeoutMs)
  const tick = options.onTick === undefined ? undefined : setInterval(() => { options.onTick?.(performance.now() - started) }, 1000)
  const exitCode = await new Promise<number | null>((resolve) => {
    child.once('error', () => { resolve(null) })
    child.once('close', (code) => { resolve(code) })
  })
  const elapsedMs = performance.now() - started
  clearTimeout(timer)
  if (tick !== undefined) clearInterval(tick)

  let cpuSeconds: number | null = null
  let peakRssBytes: number | null = null
  if (timed) {
    cpuSeconds = 0
    peakRssBytes = 0
    for (const f of timeFiles) {
      const text = await readFile(f, 'utf8').catch(() => '')
      // GNU time may prefix "Command exited with non-zero status N"; the numbers are on the last line
      const last = text.trim().split('\n').pop() ?? ''
      const [user, sys, maxKb] = last.split(' ').map(Number)
      if (user === undefined || sys === undefined || maxKb === undefined || [user, sys, maxKb].some((n) => !Number.isFinite(n))) {
        cpuSeconds = null
        peakRssBytes = null
        break
      }
      cpuSeconds += user + sys
      peakRssBytes += maxKb * 1024 // the stages run at the same time: their peaks add up (an upper bound)
    }
  }
  if (cpuSeconds === null) {
    // bash `times`: second line = user and system time of the shell's children
    const text = await readFile(join(dir, 'times'), 'utf8').catch(() => '')
    const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(text.trim().split('\n')[1] ?? '')
    if (m !== null) cpuSeconds = Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])
  }
  await rm(dir, { recursive: true, force: true })
  return { elapsedMs, cpuSeconds, peakRssBytes, stdout, stderr, exitCode, timedOut, markMs }
}

/** Messages kcat read, from its "% Reached end of topic T [p] at offset N" lines (-e without -q). */
export function kcatEofOffsets (stderr: string): Map<number, number> {
  const out = new Map<number, number>()
  for (const m of stderr.matchAll(/Reached end of topic \S+ \[(\d+)\] at offset (\d+)/g)) out.set(Number(m[1]), Number(m[2]))
  return out
}
