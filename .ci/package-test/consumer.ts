/**
 * A program written against the installed tarball, as a user would: type-checked by tsc (strict, NodeNext) in the
 * scratch project, then run. It checks that importing the library loads neither prom-client nor the Glue client,
 * then persists BROKERS/TOPIC to OUT with a tiny pipeline until COUNT records are committed.
 */
import { createRequire } from 'node:module'
import { pipeline } from 'node:stream/promises'
import { compress, createLogger, fileSink, kafkaSource, parseJson, partitionByTime, type CommitEvent } from 'sediment'
import { loadConfig, runService, type SedimentConfig } from 'sediment/service'
import { Finalizer, GlueCatalog } from 'sediment/finalizer'

const lazy = Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\/(prom-client|@aws-sdk\/client-glue)\//.test(f))
if (lazy.length > 0) throw new Error(`importing sediment loaded ${lazy.length} modules that should load on first use, e.g. ${lazy[0]}`)
// Only their types are exercised here; the subpaths must resolve at run time too.
const _typed: [typeof loadConfig, typeof runService, typeof Finalizer, typeof GlueCatalog, SedimentConfig | undefined] = [loadConfig, runService, Finalizer, GlueCatalog, undefined]
void _typed

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}
const count = Number(env('COUNT'))
const logger = createLogger({ level: 'warn' })
const source = kafkaSource({ brokers: env('BROKERS').split(','), groupId: 'package-test', topics: [env('TOPIC')], logger, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 })
const sink = fileSink({ directory: env('OUT'), committer: source, logger, maxFileAgeSeconds: 1 })
let records = 0
sink.events.on('commit', (e: CommitEvent) => { for (const f of e.files) records += f.records })

const done = pipeline(source, parseJson({ timestampField: 'ts' }), partitionByTime({ timezone: 'UTC' }), compress({ compression: 'gzip' }), sink)
await source.start()
const deadline = Date.now() + 60_000
while (records < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
source.endInput()
await done
await source.close()
console.log(`consumer: ${records} records committed`)
if (records !== count) process.exitCode = 1
