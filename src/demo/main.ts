/**
 * `npm run demo`: the whole service on an embedded default. Starts a local Kafka (librdkafka's mock cluster)
 * and a local S3 server (s3rver), produces a few hours of sample web logs (plus some bad messages), runs the
 * service until every offset is committed, prints a table of what landed (records, files and compression per
 * hour) and the verdict of `sediment verify`, and stops everything.
 *
 *   npm run demo                  # S3 sink against the local S3 server, data kept in ./demo-output/s3
 *   npm run demo -- --sink file   # local directory sink, files in ./demo-output/files
 */
import { mkdir, rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { validateConfig } from '../config/options.js'
import { createLogger } from '../logger.js'
import { runService, createStore } from '../service.js'
import { MockKafka } from '../testing/mock-kafka.js'
import { S3TestServer } from '../testing/s3-server.js'
import { verifyOutput } from '../verify/verify.js'
import { connectKafkaOffsets } from '../verify/kafka-offsets.js'
import { formatReport } from '../verify/report.js'
import { produce, sampleMessages } from './sample-data.js'
import { formatTable, summarizeOutput } from './summary.js'

const TOPIC = 'weblogs'
const PARTITIONS = 8
const GROUP = 'sediment-demo'

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { sink: { type: 'string', default: 's3' }, messages: { type: 'string', default: '20000' } } })
  const useFile = values.sink === 'file'
  const count = Number(values.messages)
  const outDir = resolve('demo-output', useFile ? 'files' : 's3')
  await rm(outDir, { recursive: true, force: true })
  await mkdir(outDir, { recursive: true })

  console.log('starting a local Kafka (librdkafka mock cluster) and a local S3 server ...')
  const kafka = await MockKafka.start()
  const s3 = useFile ? undefined : await S3TestServer.start({ directory: outDir, buckets: ['demo-bucket'] })
  try {
    await kafka.createTopic(TOPIC, PARTITIONS)
    const messages = sampleMessages({ topic: TOPIC, partitions: PARTITIONS, count, hours: 4, badPerKind: 2, startMs: Date.UTC(2026, 10, 20, 6) })
    console.log(`producing ${messages.length} sample log messages (4 hours of event time, ${PARTITIONS} partitions, ${messages.length - count} bad ones) to topic "${TOPIC}" ...`)
    await produce(kafka.bootstrap, TOPIC, messages)

    const config = validateConfig({
      kafka: { brokers: kafka.bootstrap, groupId: GROUP, topics: [TOPIC], sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 },
      parser: { type: 'json', timestampField: 'ts' },
      upload: { maxFileBytes: 1024 * 1024, maxFileAgeSeconds: 3 },
      sink: useFile
        ? { type: 'file', directory: outDir, prefix: 'logs' }
        : { type: 's3', bucket: 'demo-bucket', prefix: 'logs', endpoint: s3?.endpoint, forcePathStyle: true, credentials: s3?.clientConfig.credentials },
      log: { level: 'warn' }
    })
    console.log('running sediment until every offset is committed ...')
    const controller = new AbortController()
    const started = Date.now()
    const service = runService(config, { logger: createLogger({ level: 'warn' }), signal: controller.signal })
    const admin = new Kafka({ clientId: 'demo-admin', brokers: kafka.bootstrap, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      for (let i = 0; ; i++) {
        const [committed, end] = await Promise.all([admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] }), admin.fetchTopicOffsets(TOPIC)])
        const done = committed[0]?.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0) ?? 0
        const total = end.reduce((n, p) => n + Number(p.high), 0)
        if (i % 4 === 0 || done === total) process.stdout.write(`  committed ${done}/${total} offsets\n`)
        if (done === total) break
        if (Date.now() - started > 180_000) throw new Error('demo did not finish within 3 minutes')
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    } finally {
      await admin.disconnect()
      controller.abort()
    }
    const stats = await service

    // What landed, read back the way a reader of the bucket sees it: one row per time partition.
    const store = createStore(config)
    const rows = await summarizeOutput(store, 'logs/')
    const elapsed = (Date.now() - started) / 1000
    console.log(`\nwritten to ${useFile ? outDir : `s3://demo-bucket/logs (local S3 server data in ${outDir})`}:\n`)
    console.log(formatTable(rows))
    const kafkaOffsets = connectKafkaOffsets(config.kafka)
    let report
    try {
      report = await verifyOutput({ config, store, kafka: kafkaOffsets, checksums: true })
    } finally {
      await kafkaOffsets.close()
      await store.close()
    }
    console.log(`\n${stats.recordsCommitted} records (${count} good, ${messages.length - count} bad ones in _errors/) in ` +
      `${stats.filesCommitted} files and ${stats.commits} commits, ${elapsed.toFixed(1)} s`)
    console.log(`sediment verify: ${formatReport(report).split('\n').at(-1) ?? report.status}`)
    console.log(`  (${report.totals.objects} objects, sha256 checked; the full report: sediment verify --config FILE)`)
    if (stats.recordsCommitted !== messages.length) throw new Error(`expected ${messages.length} records, committed ${stats.recordsCommitted}`)
    if (!report.ok) throw new Error(`verify: ${report.status}`)
  } finally {
    await kafka.stop()
    await s3?.stop()
  }
}

main().catch((err: unknown) => {
  console.error('demo failed:', err instanceof Error ? err.message : err)
  process.exitCode = 1
})
