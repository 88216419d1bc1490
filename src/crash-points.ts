/**
 * Fault injection for the crash tests (never set in production): `SEDIMENT_CRASH_POINT=name:n` SIGKILLs the
 * process the n-th time (default 1st) it reaches the named point of the commit protocol, so a test can die
 * exactly between two steps instead of hoping a timed kill lands there.
 */
export const CrashPoints = ['after-part', 'after-intent', 'after-commit'] as const
export type CrashPoint = (typeof CrashPoints)[number]

const [armed, nth] = (process.env.SEDIMENT_CRASH_POINT ?? '').split(':')
let remaining = Number(nth ?? '1') || 1

export function crashPoint (point: CrashPoint): void {
  if (armed !== point) return
  if (--remaining > 0) return
  process.stderr.write(`sediment: crash point ${point} reached, killing the process\n`)
  process.kill(process.pid, 'SIGKILL')
}
