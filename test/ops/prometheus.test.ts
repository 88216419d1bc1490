import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { MetricNames as M } from '../../src/ops/metrics.js'
import { ROOT, allCommitted, serviceConfig, spawnService, startStack, waitFor, writeConfig } from '../helpers/e2e.js'
import { freePort } from './helpers.js'

const PROMETHEUS = '/usr/bin/prometheus'

interface Series { metric: Record<string, string>, value: [number, string] }

/**
 * A real Prometheus (Debian's package) scrapes the real service every second through a run in two phases; the
 * test then asks Prometheus, over its HTTP API, for the lag series: they rose above 0 and came back to 0.
 */
test('a real Prometheus scrapes the service and sees consumer lag rise and drop to 0', {
  timeout: 60_000,
  skip: existsSync(PROMETHEUS) ? false : `${PROMETHEUS} is missing: install Debian's prometheus package (apt-get install -y prometheus) to run this test`
}, async (t) => {
  const stack = await startStack(t)
  const topic = 'prom'
  const partitions = 3
  const group = 'ops-prometheus'
  await stack.kafka.createTopic(topic, partitions)

  // Prometheus cannot listen on port 0 (it would not say which port it got): take free ports first.
  const [servicePort, promPort] = [await freePort(), await freePort()]
  const promDir = join(stack.dir, 'prometheus')
  await mkdir(promDir)
  const promConfig = join(promDir, 'prometheus.yml')
  await writeFile(promConfig, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: sediment',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${servicePort}']`,
    ''
  ].join('\n'))
  const prom = spawn(PROMETHEUS, [
    `--config.file=${promConfig}`,
    `--storage.tsdb.path=${join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=warn'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let promLog = ''
  prom.stdout.on('data', (c: Buffer) => { promLog += c.toString() })
  prom.stderr.on('data', (c: Buffer) => { promLog += c.toString() })
  const promExited = new Promise<void>((resolve) => { prom.once('exit', () => { resolve() }) })
  t.after(async () => {
    if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGTERM')
    await Promise.race([promExited, new Promise((resolve) => setTimeout(resolve, 5000))])
    if (prom.exitCode === null && prom.signalCode === null) prom.kill('SIGKILL')
  })
  const promUrl = `http://127.0.0.1:${promPort}`
  await waitFor('Prometheus ready', 20_000, async () => {
    if (prom.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`)
    return await fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false)
  })
  const query = async (q: string): Promise<Series[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)
    const body = await res.json() as { status: string, data: { resultType: string, result: Series[] }, error?: string }
    assert.equal(body.status, 'success', `${q}: ${body.error ?? ''}`)
    return body.data.result
  }
  const values = (result: Series[]): number[] => result.map((s) => Number(s.value[1]))

  // Phase 1: two hours of event time are waiting before the service starts; files are cut after 5 s.
  const day = Date.UTC(2026, 10, 20)
  const first = sampleMessages({ topic, partitions, count: 3000, hours: 2, startMs: day, badPerKind: 1, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, first)
  const config = serviceConfig(stack, topic, group, {
    upload: { maxFileAgeSeconds: 5 },
    metrics: { port: servicePort, lagIntervalSeconds: 1 }
  })
  const run = spawnService(t, await writeConfig(stack, 'prom', config))
  const tail = (): string => run.output().slice(-3000)

  await waitFor('Prometheus sees offset lag above 0', 30_000, async () => values(await query(M.LAG_OFFSETS)).some((v) => v > 0), 500)
    .catch((err: Error) => { throw new Error(`${err.message}\nservice: ${tail()}\nprometheus: ${promLog}`) })
  await waitFor('phase 1 committed', 30_000, async () => await allCommitted(stack, group, topic), 250)
  await waitFor('Prometheus sees lag 0 on every partition (offsets and seconds)', 15_000, async () => {
    const offsets = await query(M.LAG_OFFSETS)
    const seconds = await query(M.LAG_SECONDS)
    return offsets.length === partitions && seconds.length === partitions && [...values(offsets), ...values(seconds)].every((v) => v === 0)
  }, 500)

  // Phase 2: events of hour 3 to 4 arrive; the committed watermark is the end of hour 2. Until their cut commits,
  // the lag in seconds is the distance between the newest event read and the last committed one: about 2 h.
  const second = sampleMessages({ topic, partitions, count: 600, hours: 1, startMs: day + 3 * 3600_000, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, topic, second)
  await waitFor('Prometheus sees lag in seconds of more than an hour', 20_000, async () => values(await query(M.LAG_SECONDS)).some((v) => v > 3600), 500)
  await waitFor('phase 2 committed', 30_000, async () => await allCommitted(stack, group, topic), 250)
  await waitFor('Prometheus sees the lag drop to 0 again', 15_000, async () => {
    const now = [...values(await query(M.LAG_OFFSETS)), ...values(await query(M.LAG_SECONDS))]
    return now.length === 2 * partitions && now.every((v) => v === 0)
  }, 500)

  // The history Prometheus kept: every partition's series, each with a peak above 0, now at 0.
  const peaks = await query(`max_over_time(${M.LAG_OFFSETS}[10m])`)
  assert.deepEqual(peaks.map((s) => s.metric.partition).sort(), ['0', '1', '2'])
  assert.ok(peaks.every((s) => s.metric.topic === topic && s.metric.job === 'sediment'))
  assert.ok(values(peaks).every((v) => v > 0), `offset lag peaked above 0 on every partition: ${JSON.stringify(values(peaks))}`)
  const secondPeaks = values(await query(`max_over_time(${M.LAG_SECONDS}[10m])`))
  assert.ok(secondPeaks.length === partitions && secondPeaks.every((v) => v > 2 * 3600 - 300 && v < 2 * 3600 + 300),
    `lag in seconds peaked at about 2 h on every partition: ${JSON.stringify(secondPeaks)}`)
  const totalIn = values(await query(`sum(${M.MESSAGES_IN})`))
  assert.deepEqual(totalIn, [first.length + second.length], 'messages in, as Prometheus has them')
  assert.deepEqual(values(await query(`sum(${M.RECORDS_WRITTEN})`)), [first.length + second.length])
  assert.deepEqual(values(await query('up{job="sediment"}')), [1])
  // Every query of the Grafana dashboard is valid PromQL and finds data (template variables set to "all").
  const dashboard = JSON.parse(await readFile(join(ROOT, 'deploy/grafana/sediment-dashboard.json'), 'utf8')) as { panels: Array<{ title: string, targets?: Array<{ expr: string }> }> }
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const q = target.expr.replaceAll('$__rate_interval', '1m').replace(/\$(job|instance|topic)\b/g, '.*')
      const result = await query(q)
      // failures, retries, restarts and abandoned cuts did not happen here; everything else has data
      if (!/failed|retried|restarts|abandoned/.test(q)) assert.ok(result.length > 0, `dashboard panel "${panel.title}": no data for ${q}`)
    }
  }
  t.diagnostic(`offset lag peaks ${JSON.stringify(values(peaks))}; seconds lag peaks ${JSON.stringify(secondPeaks)}`)

  run.child.kill('SIGTERM')
  assert.equal((await run.exited).code, 0)
})
