import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'
import { Health } from '../../src/ops/health.js'
import { MetricNames, SedimentMetrics } from '../../src/ops/metrics.js'
import { dataPoints } from '../../src/ops/opentsdb.js'
import { BadReasonLabels, badReasonLabel } from '../../src/ops/reason-label.js'
import { parseStage, Reasons } from '../../src/stages/parse.js'
import { parsePrometheusText, sum } from './helpers.js'

const minimal = (): Record<string, any> => ({ kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'] }, sink: { bucket: 'my-bucket' } })

test('metrics config: defaults, port 0, OpenTSDB, and errors naming the field', () => {
  assert.deepEqual(validateConfig(minimal()).metrics, { enabled: true, host: '127.0.0.1', port: 9464, lagIntervalSeconds: 15, readyzUploadFailureSeconds: 60 })
  const c = validateConfig({ ...minimal(), metrics: { port: 0, host: '0.0.0.0', opentsdb: { url: 'http://tsdb:4242', tags: { env: 'prod', dc: 3 } } } })
  assert.equal(c.metrics.port, 0)
  assert.equal(c.metrics.host, '0.0.0.0')
  assert.deepEqual(c.metrics.opentsdb, { url: 'http://tsdb:4242', intervalSeconds: 60, tags: { env: 'prod', dc: '3' } })
  assert.equal(validateConfig({ ...minimal(), metrics: { host: '::1' } }).metrics.host, '::1')
  const rejects = (metrics: unknown, path: string): void => {
    assert.throws(() => validateConfig({ ...minimal(), metrics }), (err: unknown) => err instanceof ConfigError && err.path === path, path)
  }
  rejects({ port: 70000 }, 'metrics.port')
  rejects({ port: '9464' }, 'metrics.port')
  rejects({ host: 'http://x:1' }, 'metrics.host')
  rejects({ lagIntervalSeconds: 0 }, 'metrics.lagIntervalSeconds')
  rejects({ enable: true }, 'metrics.enable')
  rejects({ opentsdb: { intervalSeconds: 5 } }, 'metrics.opentsdb.url')
  rejects({ opentsdb: { url: 'tsdb:4242' } }, 'metrics.opentsdb.url')
  rejects({ opentsdb: { url: 'http://tsdb', tags: { 'a b': 'x' } } }, 'metrics.opentsdb.tags.a b')
  rejects({ opentsdb: { url: 'http://tsdb', tags: { env: 'pro d' } } }, 'metrics.opentsdb.tags.env')
  rejects({ opentsdb: { url: 'http://u:p@tsdb' } }, 'metrics.opentsdb.url')
  rejects({ opentsdb: { url: 'http://tsdb', username: 'u' } }, 'metrics.opentsdb.password')
  assert.deepEqual(validateConfig({ ...minimal(), metrics: { opentsdb: { url: 'http://tsdb', username: 'u', password: 'p' } } }).metrics.opentsdb,
    { url: 'http://tsdb', username: 'u', password: 'p', intervalSeconds: 60, tags: {} })
})

test('bad-record reasons map to a bounded label set, from the parser\'s real reasons', async () => {
  const fixed: Array<[string, string]> = [
    [Reasons.TOMBSTONE, 'tombstone'],
    [Reasons.EMPTY, 'empty'],
    [Reasons.INVALID_UTF8, 'invalid_utf8'],
    [Reasons.LINE_BREAK, 'line_break'],
    [`${Reasons.INVALID_KAFKA_TIMESTAMP} -5`, 'invalid_kafka_timestamp'],
    [`${Reasons.TOO_LARGE} (2000 bytes > 1024)`, 'too_large'],
    [`${Reasons.BEFORE_NOT_BEFORE} (x < y)`, 'before_not_before'],
    [`${Reasons.TOO_FAR_IN_FUTURE} (x > y)`, 'too_far_in_future'],
    ['something a new parser says', 'other']
  ]
  for (const [reason, label] of fixed) assert.equal(badReasonLabel(reason), label, reason)
  // Reasons as the json parser really produces them (both of its paths), with values quoted in them.
  const values: Array<[string, string]> = [
    ['plain text', 'not_json'],
    ['{"ts":1763600000000,"msg":"cut', 'truncated_json'],
    ['[1,2]', 'not_object'],
    ['{"msg":"x"}', 'missing_timestamp'],
    ['{"ts":"yesterday-ish"}', 'invalid_timestamp'],
    ['{"ts":-1763600000}', 'invalid_timestamp'],
    ['{"ts":true}', 'invalid_timestamp'],
    ['{"ts":null}', 'invalid_timestamp'],
    ['{"ts":{"a":1}}', 'invalid_timestamp'],
    ['{"ts":"2026-13-45T99:00:00Z"}', 'invalid_timestamp'],
    ['{"ts":""}', 'invalid_timestamp']
  ]
  const stage = parseStage({ type: 'json', timestampField: 'ts' })
  const out = await new Promise<any>((resolve, reject) => {
    stage.once('data', resolve)
    stage.once('error', reject)
    stage.write({
      kind: 'batch', topic: 't', partition: 0, epoch: 1, firstOffset: 0, nextOffset: values.length, rawBytes: 0,
      records: values.map(([v], i) => ({ offset: i, key: null, value: Buffer.from(v), timestamp: 1, headers: {} }))
    })
  })
  assert.equal(out.bad.length, values.length)
  for (const [i, b] of (out.bad as Array<{ reason: string }>).entries()) {
    assert.equal(badReasonLabel(b.reason), values[i]?.[1], `${values[i]?.[0]} → "${b.reason}"`)
  }
  for (const [, label] of [...fixed, ...values]) assert.ok((BadReasonLabels as readonly string[]).includes(label))
})

test('readiness: not joined, joined (idle or assigned), failing uploads past the threshold, shutting down', () => {
  let now = 1_000_000
  const h = new Health({ uploadFailureMs: 60_000, now: () => now })
  assert.equal(h.readiness().ready, false)
  assert.match(h.readiness().reason, /not joined/)
  h.joined(0)
  assert.deepEqual(h.readiness(), { ready: true, reason: 'idle: the group assigned no partitions to this process', partitions: 0 })
  h.joined(3)
  h.uploadFailed(new Error('503 SlowDown'))
  now += 59_000
  assert.equal(h.readiness().ready, true, 'still within the threshold')
  h.uploadFailed(new Error('503 SlowDown'))
  now += 2000
  assert.equal(h.readiness().ready, false)
  assert.match(h.readiness().reason, /uploads have been failing for 61 s: 503 SlowDown/)
  h.uploadSucceeded()
  assert.equal(h.readiness().ready, true, 'one success resets it')
  h.left()
  assert.equal(h.readiness().ready, false)
  h.joined(3)
  h.stopping()
  assert.deepEqual(h.readiness(), { ready: false, reason: 'shutting down' })
})

test('metric registry: names in one place, scrape-time gauges, OpenTSDB data points', async () => {
  const metrics = new SedimentMetrics({
    openFiles: () => 7,
    bufferedBytes: () => 1234,
    abandonedCuts: () => ({ fenced: 2, ambiguous: 1 }),
    earlyCuts: () => ({ memory: 3, files: 4 }),
    paused: () => true,
    ready: () => false
  }, { processMetrics: false })
  metrics.lagOffsets.set({ topic: 'a b', partition: '0' }, 5)
  metrics.cutToCommit.observe({ reason: 'age' }, 1.5)
  const samples = parsePrometheusText(await metrics.registry.metrics())
  for (const name of Object.values(MetricNames)) {
    const base = name === MetricNames.CUT_TO_COMMIT ? `${name}_count` : name
    assert.ok(samples.some((s) => s.name === base) || [MetricNames.LAG_SECONDS, MetricNames.MESSAGES_IN, MetricNames.BYTES_IN, MetricNames.BAD_RECORDS,
      MetricNames.RECORDS_WRITTEN, MetricNames.BYTES_WRITTEN, MetricNames.FILES_WRITTEN, MetricNames.UPLOADS_STARTED, MetricNames.UPLOADS_FAILED,
      MetricNames.UPLOADS_RETRIED, MetricNames.COMMITS, MetricNames.LATE_RECORDS, MetricNames.FILTERED_RECORDS, MetricNames.OFFSETS_EXPIRED,
      MetricNames.PARTITIONS_STOPPED].includes(name as never), `${name} is exported before any labelled value exists`)
  }
  assert.equal(sum(samples, MetricNames.OPEN_FILES), 7)
  assert.equal(sum(samples, MetricNames.BUFFERED_BYTES), 1234)
  assert.equal(sum(samples, MetricNames.CUTS_ABANDONED, { outcome: 'fenced' }), 2)
  assert.equal(sum(samples, MetricNames.EARLY_CUTS, { reason: 'files' }), 4)
  assert.equal(sum(samples, MetricNames.CONSUMER_PAUSED), 1)
  assert.equal(sum(samples, MetricNames.READY), 0)

  const points = await dataPoints(metrics.registry, { host: 'h1' }, 1700000000)
  const lag = points.find((p) => p.metric === MetricNames.LAG_OFFSETS)
  assert.deepEqual(lag, { metric: MetricNames.LAG_OFFSETS, timestamp: 1700000000, value: 5, tags: { host: 'h1', topic: 'a_b', partition: '0' } })
  assert.ok(points.some((p) => p.metric === `${MetricNames.CUT_TO_COMMIT}_count` && p.value === 1 && p.tags.reason === 'age'))
  assert.ok(!points.some((p) => p.metric.endsWith('_bucket')), 'histogram buckets are not pushed')
  assert.ok(points.every((p) => Object.keys(p.tags).length > 0 && Object.values(p.tags).every((v) => /^[A-Za-z0-9._/-]+$/.test(v))))
})

test('the Grafana dashboard is valid JSON, uses only exported metric names and covers each area', () => {
  const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/sediment-dashboard.json', import.meta.url), 'utf8')) as {
    uid: string, panels: Array<{ type: string, title: string, targets?: Array<{ expr: string }> }>
  }
  assert.equal(dashboard.uid, 'sediment-overview')
  const known = new Set<string>(Object.values(MetricNames).flatMap((n) => [n, `${n}_bucket`]))
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))
  for (const expr of exprs) {
    for (const name of expr.match(/\b(?:sediment|process)_[a-z_]+/g) ?? []) {
      assert.ok(known.has(name) || name.startsWith('process_'), `${expr}: unknown metric ${name}`)
    }
  }
  const used = (name: string): boolean => exprs.some((e) => e.includes(name))
  for (const name of [MetricNames.LAG_OFFSETS, MetricNames.LAG_SECONDS, MetricNames.MESSAGES_IN, MetricNames.BYTES_IN, MetricNames.RECORDS_WRITTEN,
    MetricNames.BYTES_WRITTEN, MetricNames.BAD_RECORDS, MetricNames.OPEN_FILES, MetricNames.BUFFERED_BYTES, MetricNames.UPLOADS_STARTED,
    MetricNames.UPLOADS_FAILED, MetricNames.UPLOADS_RETRIED, `${MetricNames.CUT_TO_COMMIT}_bucket`, MetricNames.COMMITS, MetricNames.REBALANCES]) {
    assert.ok(used(name), `a panel shows ${name}`)
  }
  assert.ok(exprs.some((e) => e.startsWith('histogram_quantile(0.99')), 'cut-to-commit quantiles')
})
