import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { S3TestServer } from '../src/testing/s3-server.js'
import {
  BUCKET, allCommitted, committedOffsets, readOutput, serviceConfig, spawnService, startStack, verify, waitFor, writeConfig
} from './helpers/e2e.js'

test('unreachable Kafka: a clear error naming the brokers, retries, and a clean exit on SIGTERM', { timeout: 60_000 }, async (t) => {
  const stack = await startStack(t)
  const config = serviceConfig(stack, 'nowhere', 'unreachable', { log: { level: 'info', progressSeconds: 2 }, metrics: { port: 0 } })
  ;(config.kafka as Record<string, unknown>).brokers = ['127.0.0.1:1']
  const run = spawnService(t, await writeConfig(stack, 'no-kafka', config))
  await waitFor('two retrying errors', 50_000, () => (run.output().match(/cannot reach Kafka, retrying/g) ?? []).length >= 2)
  assert.match(run.output(), /127\.0\.0\.1:1/)
  // One clear line per attempt (each ≈10 s of kafkajs' own retries) and at most one of kafkajs' per 30 s, without
  // stacks: not the 21 error lines with stacks in 12 s kafkajs logs by itself.
  const lines = run.output().trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { level: number, time: number, msg: string, component?: string })
  const loud = lines.filter(l => l.level >= 40)
  const intervals = Math.ceil(((lines.at(-1)?.time ?? 0) - (lines[0]?.time ?? 0)) / 30_000)
  const listing = `${loud.length} warnings/errors in ${intervals} x 30 s:\n${loud.map(l => `${l.component ?? ''}: ${l.msg}`).join('\n')}`
  assert.ok(loud.filter(l => l.component === 'source').length >= 2, listing)
  assert.ok(loud.filter(l => l.component === 'kafkajs').length <= intervals, listing)
  assert.ok(loud.length <= 2 + intervals, listing)
  assert.doesNotMatch(run.output(), /"stack"|\n\s+at /)
  // the progress line runs meanwhile, and says there is nothing to report
  assert.match(run.output(), /"component":"progress","recordsPerSecond":0,"bytesPerSecond":0,"openFiles":0,"bufferedBytes":0,"commits":0,"msg":"progress: 0 records\/s, 0 B\/s in; lag unknown; 0 open files; no commit yet"/)
  assert.equal(run.child.exitCode, null, 'still running: no crash loop')
  const stoppedAt = Date.now()
  run.child.kill('SIGTERM')
  assert.equal((await run.exited).code, 0)
  assert.ok(Date.now() - stoppedAt < 10_000, 'shutdown does not wait for the connection retries')
})

test('unreachable S3: uploads retry with a clear error, nothing is committed, and work resumes when S3 is back', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  const topic = 'nos3'
  await stack.kafka.createTopic(topic, 2)
  const messages = sampleMessages({ topic, partitions: 2, count: 2000, hours: 2 })
  await produce(stack.kafka.bootstrap, topic, messages)
  // a second S3 server that we stop and later restart on the same port and data directory
  const dir = await mkdtemp(join(tmpdir(), 'sediment-s3-down-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  let s3 = await S3TestServer.start({ directory: dir, buckets: [BUCKET] })
  const port = s3.port
  await s3.stop()
  t.after(async () => { await s3.stop() })

  const config = serviceConfig(stack, topic, 'nos3', { upload: { maxFileBytes: 64 * 1024, maxFileAgeSeconds: 1 } })
  ;(config.sink as Record<string, unknown>).endpoint = `http://127.0.0.1:${port}`
  const run = spawnService(t, await writeConfig(stack, 'no-s3', config))
  // the first thing that needs S3 is the start position (manifests), then the uploads
  await waitFor('S3 retries', 60_000, () => /upload failed, retrying|cannot read the start position from the object store, retrying/.test(run.output()))
  assert.match(run.output(), /ECONNREFUSED|connect/)
  assert.equal(run.child.exitCode, null, 'still running: no crash loop')
  const committed = await committedOffsets(stack, 'nos3', topic)
  assert.ok([...committed.values()].every((o) => o <= 0), 'nothing committed while S3 is down')

  s3 = await S3TestServer.start({ directory: dir, buckets: [BUCKET], port })
  await waitFor('everything committed once S3 is back', 90_000, async () => await allCommitted(stack, 'nos3', topic), 500)
  run.child.kill('SIGTERM')
  assert.equal((await run.exited).code, 0)
  // read what landed on the restarted server
  const view = { ...stack, s3Client: new (await import('@aws-sdk/client-s3')).S3Client(s3.clientConfig) }
  const v = verify(messages, await readOutput(view, 'logs'))
  view.s3Client.destroy()
  assert.equal(v.lost + v.duplicated + v.misplaced, 0, v.examples.join('; '))
})
