/**
 * Sediment as a library: compose the source, the stages and a sink with `stream/promises` `pipeline`.
 *
 *   npm run example                          # embedded Kafka (mock cluster) + a local directory sink
 *   KAFKA_BROKERS=host:9092 TOPIC=logs npm run example   # your Kafka; files under ./example-output
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { compress, createLogger, fileSink, kafkaSource, parseJson, partitionByTime } from '../src/index.js'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { MockKafka } from '../src/testing/mock-kafka.js'

const logger = createLogger({ level: 'warn' })
const topic = process.env.TOPIC ?? 'example-logs'
const embedded = process.env.KAFKA_BROKERS === undefined ? await MockKafka.start() : undefined
const brokers = embedded?.bootstrap ?? (process.env.KAFKA_BROKERS ?? '').split(',')
if (embedded !== undefined) {
  await embedded.createTopic(topic, 4)
  await produce(brokers, topic, sampleMessages({ topic, partitions: 4, count: 5000, hours: 3 }))
}
const directory = process.env.OUTPUT_DIR ?? await mkdtemp(join(tmpdir(), 'sediment-example-'))

const source = kafkaSource({ brokers, groupId: 'sediment-example', topics: [topic], logger, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 })
const sink = fileSink({ directory, committer: source, logger, maxFileAgeSeconds: 2 })
let records = 0
sink.events.on('commit', (e: { files: Array<{ key: string, records: number }> }) => {
  for (const f of e.files) {
    records += f.records
    console.log(`committed ${f.key} (${f.records} records)`)
  }
})

const done = pipeline(source, parseJson({ timestampField: 'ts' }), partitionByTime({ timezone: 'UTC' }), compress({ compression: 'gzip' }), sink)
await source.start()
// Stop once everything produced is committed (embedded mode), or after 30 s against a real cluster.
const deadline = Date.now() + 30_000
while (Date.now() < deadline && !(embedded !== undefined && records >= 5000)) await new Promise((resolve) => setTimeout(resolve, 200))
source.endInput() // stop reading; the sink flushes and commits what it holds on end of input
await done
await source.close()
await embedded?.stop()
console.log(`done: ${records} records in ${directory}`)
