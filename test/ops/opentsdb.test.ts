import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { MetricNames as M } from '../../src/ops/metrics.js'
import type { DataPoint } from '../../src/ops/opentsdb.js'
import { allCommitted, serviceConfig, spawnService, startStack, waitFor, writeConfig } from '../helpers/e2e.js'

interface Put { path: string, auth: string | undefined, contentType: string | undefined, points: DataPoint[], at: number }

/** The running service pushes to a local HTTP server standing in for OpenTSDB's /api/put. */
test('OpenTSDB push: /api/put JSON bodies with tags, every interval and on shutdown; a failed push is counted', { timeout: 60_000 }, async (t) => {
  const puts: Put[] = []
  let refuse = 1 // the first push gets a 500, as from an overloaded TSD
  const tsdb = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (refuse > 0) {
        refuse--
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":500,"message":"busy"}}')
        return
      }
      puts.push({ path: `${req.method ?? ''} ${req.url ?? ''}`, auth: req.headers.authorization, contentType: req.headers['content-type'], points: JSON.parse(Buffer.concat(chunks).toString()) as DataPoint[], at: Date.now() })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => { tsdb.listen(0, '127.0.0.1', resolve) })
  t.after(() => { tsdb.closeAllConnections(); tsdb.close() })
  const tsdbPort = (tsdb.address() as AddressInfo).port

  const stack = await startStack(t)
  const topic = 'tsdb'
  const partitions = 2
  await stack.kafka.createTopic(topic, partitions)
  const messages = sampleMessages({ topic, partitions, count: 1000, hours: 1, badPerKind: 1, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, messages)
  const config = serviceConfig(stack, topic, 'ops-opentsdb', {
    upload: { maxFileAgeSeconds: 2 },
    metrics: {
      port: 0,
      lagIntervalSeconds: 1,
      opentsdb: { url: `http://127.0.0.1:${tsdbPort}/`, username: 'writer', password: 's3cret', intervalSeconds: 1, tags: { env: 'test', dc: 'local-1' } }
    }
  })
  const run = spawnService(t, await writeConfig(stack, 'tsdb', config))
  await waitFor('everything committed', 40_000, async () => await allCommitted(stack, 'ops-opentsdb', topic), 250)

  const latest = (metric: string): DataPoint[] => {
    // one push may span several requests; take every point of the newest timestamp
    const points = puts.flatMap((p) => p.points).filter((p) => p.metric === metric)
    const newest = Math.max(...points.map((p) => p.timestamp))
    return points.filter((p) => p.timestamp === newest)
  }
  await waitFor('a push with everything counted and lag 0', 15_000, () => {
    const lag = latest(M.LAG_OFFSETS)
    return latest(M.MESSAGES_IN).reduce((n, p) => n + p.value, 0) === messages.length &&
      lag.length === partitions && lag.every((p) => p.value === 0)
  }, 250)

  const put = puts[puts.length - 1] as Put
  assert.equal(put.path, 'POST /api/put')
  assert.equal(put.contentType, 'application/json')
  assert.equal(put.auth, `Basic ${Buffer.from('writer:s3cret').toString('base64')}`)
  assert.ok(put.points.length > 0 && put.points.length <= 200, 'chunked to at most 200 points per request')
  for (const p of puts.flatMap((x) => x.points)) {
    assert.deepEqual(Object.keys(p).sort(), ['metric', 'tags', 'timestamp', 'value'])
    assert.ok(Number.isInteger(p.timestamp) && Math.abs(p.timestamp - Date.now() / 1000) < 120, 'timestamp in seconds')
    assert.ok(Number.isFinite(p.value))
    assert.equal(p.tags.env, 'test')
    assert.equal(p.tags.dc, 'local-1')
    assert.match(p.tags.host ?? '', /^[A-Za-z0-9._/-]+$/)
    for (const v of [p.metric, ...Object.keys(p.tags), ...Object.values(p.tags)]) assert.match(v, /^[A-Za-z0-9._/-]+$/, `OpenTSDB charset: ${v}`)
  }
  const lag = latest(M.LAG_OFFSETS)
  assert.deepEqual(lag.map((p) => p.tags.partition).sort(), ['0', '1'])
  assert.ok(lag.every((p) => p.tags.topic === topic))
  assert.equal(latest(M.BAD_RECORDS).reduce((n, p) => n + p.value, 0), 7)
  assert.ok(latest(M.OPENTSDB_PUSH_FAILURES).every((p) => p.value === 1), 'the refused push was counted')
  assert.match(run.output(), /"msg":"pushing metrics to OpenTSDB failed; trying again every interval"/)
  assert.doesNotMatch(run.output(), /s3cret/, 'the password is never logged (the config logged at start included)')

  // a last push on shutdown
  const before = puts.length
  const stoppedAt = Date.now()
  run.child.kill('SIGTERM')
  assert.equal((await run.exited).code, 0)
  assert.ok(puts.slice(before).some((p) => p.at >= stoppedAt), 'pushed once more while shutting down')
})
