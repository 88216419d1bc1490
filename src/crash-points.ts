/**
 * Fault injection for the crash and zombie tests (never set in production). At a named step of the commit
 * protocol, the n-th time it is reached (default the 1st):
 *   SEDIMENT_CRASH_POINT=name:n   SIGKILLs the process (a crash exactly between two steps);
 *   SEDIMENT_STOP_POINT=name:n    SIGSTOPs it (a "zombie": frozen until someone sends SIGCONT, then it
 *                                 carries on from exactly that step).
 */
export const CrashPoints = [
  'after-part', 'after-intent', 'after-commit',
  // restore (src/restore/restore.ts): progress saved, object not yet read; after each produced batch; object done
  'restore-begun', 'restore-batch', 'restore-object-done'
] as const
export type CrashPoint = (typeof CrashPoints)[number]

function arm (spec: string | undefined): { point: string, remaining: number } {
  const [point, nth] = (spec ?? '').split(':')
  return { point: point ?? '', remaining: Number(nth ?? '1') || 1 }
}

const crash = arm(process.env.SEDIMENT_CRASH_POINT)
const stop = arm(process.env.SEDIMENT_STOP_POINT)

export function crashPoint (point: CrashPoint): void {
  if (crash.point === point && --crash.remaining === 0) {
    process.stderr.write(`sediment: crash point ${point} reached, killing the process\n`)
    process.kill(process.pid, 'SIGKILL')
  }
  if (stop.point === point && --stop.remaining === 0) {
    process.stderr.write(`sediment: stop point ${point} reached, stopping the process\n`)
    process.kill(process.pid, 'SIGSTOP')
    process.stderr.write(`sediment: resumed after stop point ${point}\n`)
  }
}
