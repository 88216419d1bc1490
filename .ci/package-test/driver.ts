/**
 * The tarball test's Kafka side (run from the repository with tsx): an embedded mock cluster with COUNT sample
 * records, the scratch project's compiled consumer run against it, then every record found once in its files.
 *   node --import tsx .ci/package-test/driver.ts <scratch-dir>
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { produce, sampleMessages } from '../../src/demo/sample-data.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'

const scratch = process.argv[2]
if (scratch === undefined) throw new Error('usage: driver.ts <scratch-dir>')
const topic = 'package-test'
const messages = sampleMessages({ topic, partitions: 2, count: 2000, hours: 2, badPerKind: 0 })
const out = await mkdtemp(join(tmpdir(), 'sediment-package-out-'))
const kafka = await MockKafka.start()
try {
  await kafka.createTopic(topic, 2)
  await produce(kafka.bootstrap, topic, messages)
  const child = spawn(process.execPath, [join(scratch, 'consumer.js')], {
    cwd: scratch,
    stdio: 'inherit',
    env: { ...process.env, BROKERS: kafka.bootstrap.join(','), TOPIC: topic, OUT: out, COUNT: String(messages.length) }
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`the consumer exited with ${String(code)}`)

  // Each record once, in the dt=/hr= directory of its event time.
  const found = new Map<string, string[]>()
  for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.jsonl.gz')) continue
    const dir = relative(out, entry.parentPath)
    for (const line of gunzipSync(await readFile(join(entry.parentPath, entry.name))).toString('utf8').split('\n')) {
      if (line === '') continue
      const { id } = JSON.parse(line) as { id: string }
      found.set(id, [...(found.get(id) ?? []), dir])
    }
  }
  const wrong = messages.filter((m) => found.get(m.id ?? '')?.join() !== m.dir)
  if (wrong.length > 0 || found.size !== messages.length) {
    const m = wrong[0]
    throw new Error(`${wrong.length} of ${messages.length} records not found exactly once in their directory` +
      (m !== undefined ? `, e.g. ${m.id ?? ''}: expected ${m.dir ?? ''}, found in [${(found.get(m.id ?? '') ?? []).join(', ')}]` : ''))
  }
  console.log(`driver: ${messages.length} records, each once, in its dt=/hr= directory`)
} finally {
  await kafka.stop()
  await rm(out, { recursive: true, force: true })
}
