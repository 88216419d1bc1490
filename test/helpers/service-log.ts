/**
 * Reading a service child process's pino JSON output: the cuts it committed, and why its pipeline restarted.
 */
import type { ServiceProcess } from './e2e.js'

export interface CommitLine { partition: number, offset: number, time: number }

/** The `"msg":"committed"` lines (pino JSON) a process has logged so far. */
export function commitsOf (p: ServiceProcess): CommitLine[] {
  const out: CommitLine[] = []
  for (const line of p.output().split('\n')) {
    if (!line.includes('"msg":"committed"')) continue
    try {
      const e = JSON.parse(line) as { partition?: number, offset?: number, time?: number }
      if (typeof e.partition === 'number' && typeof e.offset === 'number') out.push({ partition: e.partition, offset: e.offset, time: Number(e.time) })
    } catch { /* a line cut by the output window */ }
  }
  return out
}

/**
 * Pipeline restarts of a process, split by cause. The librdkafka 2.0.2 mock answers a follower's SyncGroup that
 * arrives after the leader's with INVALID_REQUEST (it moves the group to Up as soon as the leader's assignment is in;
 * a real broker hands the late follower its assignment), which kafkajs treats as fatal: the consumer crashes and the
 * service rebuilds its pipeline. That is the mock's doing and is only counted; any other restart fails the test.
 */
export function pipelineRestarts (p: ServiceProcess): { mockSyncGroup: number, other: string[] } {
  const out = { mockSyncGroup: 0, other: [] as string[] }
  let lastSyncGroupError = -Infinity
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue
    let e: { time?: number, msg?: string, err?: string, error?: string }
    try { e = JSON.parse(line) } catch { continue }
    const time = Number(e.time)
    if (e.msg?.startsWith('Response SyncGroup') === true && /request being malformed/.test(e.error ?? '')) lastSyncGroupError = time
    if (e.msg === 'pipeline failed; restarting from the last commit') {
      if (/request being malformed/.test(e.err ?? '') && time - lastSyncGroupError < 1000) out.mockSyncGroup++
      else out.other.push(e.err ?? line)
    }
  }
  return out
}
