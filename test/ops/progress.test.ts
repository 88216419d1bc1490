import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { createLogger } from '../../src/logger.js'
import { SedimentMetrics } from '../../src/ops/metrics.js'
import { ProgressReporter, progressMessage } from '../../src/ops/progress.js'

function setup (): { reporter: ProgressReporter, metrics: SedimentMetrics, source: EventEmitter, sink: { events: EventEmitter, stats: () => { openFiles: number, bufferedBytes: number } }, advance: (ms: number) => void, lines: () => Array<Record<string, unknown>> } {
  let clock = 1_000_000
  let text = ''
  const logger = createLogger({ level: 'info', destination: new Writable({ write (c, _e, cb) { text += String(c); cb() } }) })
  const metrics = new SedimentMetrics({ openFiles: () => 0, bufferedBytes: () => 0, abandonedCuts: () => ({ fenced: 0, ambiguous: 0 }), earlyCuts: () => ({ memory: 0, files: 0 }), paused: () => false, ready: () => true }, { processMetrics: false })
  const reporter = new ProgressReporter({ logger, intervalSeconds: 30, metrics, now: () => clock })
  const source = new EventEmitter()
  const sink = { events: new EventEmitter(), stats: () => ({ openFiles: 12, bufferedBytes: 4096 }) }
  const seen: unknown[] = []
  reporter.wrap((parts) => { seen.push(parts) })({ source, sink })
  assert.equal(seen.length, 1, 'wrap passes the pipeline on')
  return { reporter, metrics, source, sink, advance: (ms) => { clock += ms }, lines: () => text.trim().split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>) }
}

test('the progress line: records/s, bytes/s, lag, open files, last commit age', async () => {
  const s = setup()
  s.source.emit('fetch', { topic: 't', partition: 0, messages: 30_000, bytes: 6_000_000 })
  s.advance(10_000)
  s.sink.events.emit('commit', { topic: 't', partition: 0 })
  s.metrics.lagOffsets.set({ topic: 't', partition: '0' }, 100)
  s.metrics.lagOffsets.set({ topic: 't', partition: '1' }, 20)
  s.metrics.lagSeconds.set({ topic: 't', partition: '0' }, 42.4)
  s.metrics.lagSeconds.set({ topic: 't', partition: '1' }, 3)
  s.advance(20_000)
  const fields = await s.reporter.report()
  assert.deepEqual(fields, { recordsPerSecond: 1000, bytesPerSecond: 200_000, lagOffsets: 120, lagSeconds: 42, openFiles: 12, bufferedBytes: 4096, commits: 1, lastCommitAgeSeconds: 20 })
  const line = s.lines()[0]
  assert.equal(line?.component, 'progress')
  assert.equal(line?.msg, 'progress: 1,000 records/s, 200.0 kB/s in; lag 120 offsets, 42 s; 12 open files; last commit 20 s ago')
  assert.equal(line?.recordsPerSecond, 1000)

  // the next interval counts from the previous line
  s.advance(60_000)
  const idle = await s.reporter.report()
  assert.equal(idle.recordsPerSecond, 0)
  assert.equal(idle.commits, 0)
  assert.equal(idle.lastCommitAgeSeconds, 80)
})

test('before any commit or lag reading, the line says so', () => {
  assert.equal(progressMessage({ recordsPerSecond: 0, bytesPerSecond: 0, openFiles: 0, bufferedBytes: 0, commits: 0 }), 'progress: 0 records/s, 0 B/s in; lag unknown; 0 open files; no commit yet')
})
