import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { Kafka, logLevel } from 'kafkajs'
import { createLogger } from '../src/logger.js'
import { validateConfig } from '../src/config/options.js'
import { ConfigError } from '../src/errors.js'
import { produce, sampleMessages } from '../src/demo/sample-data.js'
import { runService } from '../src/service.js'
import type { CommitEvent } from '../src/sinks/commit-protocol.js'
import { allCommitted, dataObjects, serviceConfig, startStack, waitFor } from './helpers/e2e.js'
import { zstdDecompressFrames } from './helpers/zstd.js'

test('topicOverrides: per-topic parser, template, format and cut size in one process (and Secor\'s offset layout), each topic exactly once', { timeout: 120_000 }, async (t) => {
  const stack = await startStack(t)
  await stack.kafka.createTopic('events', 2)
  await stack.kafka.createTopic('texts', 2)
  await stack.kafka.createTopic('backup', 1)
  const events = sampleMessages({ topic: 'events', partitions: 2, count: 1_000, hours: 3, badPerKind: 0, timestampField: 'ts' })
  await produce(stack.kafka.bootstrap, 'events', events)
  // Plain text lines whose event time is the Kafka timestamp: two days.
  const day0 = Date.UTC(2026, 10, 20, 12)
  const producer = new Kafka({ clientId: 'overrides-test', brokers: stack.kafka.bootstrap, logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  const texts = Array.from({ length: 600 }, (_, i) => ({ partition: i % 2, value: `line ${i} of plain text`, timestamp: String(day0 + (i < 300 ? 0 : 86_400_000)) }))
  await producer.send({ topic: 'texts', acks: -1, messages: texts })
  // Opaque bytes, line breaks included, kept in offset buckets of 100 (no timestamp needed).
  const backup = Array.from({ length: 250 }, (_, i) => ({ partition: 0, value: Buffer.from(`blob ${i}\n\u0000${'x'.repeat(i % 7)}`) }))
  await producer.send({ topic: 'backup', acks: -1, messages: backup })
  await producer.disconnect()

  const raw = serviceConfig(stack, 'unused', 'overrides', { log: { level: 'warn' } })
  ;(raw.kafka as Record<string, unknown>).topics = ['events', 'texts', 'backup']
  raw.topicOverrides = [{
    topics: ['backup'],
    parser: { type: 'kafka-timestamp' },
    partition: { template: 'offset={offset:100}' },
    output: { format: 'raw', framing: 'length-prefixed', compression: 'zstd' }
  }, {
    topics: ['texts'],
    parser: { type: 'kafka-timestamp' },
    partition: { template: 'day={YYYY}{MM}{DD}' },
    output: { format: 'raw', compression: 'none' },
    upload: { maxFileBytes: 4096 }
  }]
  const config = validateConfig(raw)
  const commits: CommitEvent[] = []
  const controller = new AbortController()
  const service = runService(config, {
    logger: createLogger({ level: 'warn' }),
    signal: controller.signal,
    onPipeline: ({ sink }) => { sink.events.on('commit', (e: CommitEvent) => commits.push(e)) }
  })
  try {
    await waitFor('both topics committed', 60_000, async () =>
      await allCommitted(stack, 'overrides', 'events') && await allCommitted(stack, 'overrides', 'texts') &&
      await allCommitted(stack, 'overrides', 'backup'), 300)
  } finally {
    controller.abort()
    await service
  }

  const data = (await dataObjects(stack, 'logs')).map(o => [o.key, o.body] as const)
  // events: the top-level JSON parser, default dt/hr template, JSON lines + gzip
  const ids = new Map<string, string[]>()
  for (const [key, body] of data.filter(([k]) => k.startsWith('logs/events/'))) {
    assert.match(key, /^logs\/events\/dt=\d{4}-\d\d-\d\d\/hr=\d\d\/[^/]+\.jsonl\.gz$/)
    for (const line of gunzipSync(body).toString().split('\n').filter(l => l !== '')) {
      const id = String((JSON.parse(line) as { id: string }).id)
      ids.set(id, [...(ids.get(id) ?? []), key.slice(5, key.lastIndexOf('/'))])
    }
  }
  for (const m of events) assert.deepEqual(ids.get(m.id as string), [m.dir], `${m.id as string} once in ${m.dir as string}`)
  assert.equal(ids.size, events.length)
  // texts: the override: Kafka timestamps, its own template, raw lines, small cuts
  const lines = new Map<string, string[]>()
  for (const [key, body] of data.filter(([k]) => k.startsWith('logs/texts/'))) {
    assert.match(key, /^logs\/texts\/day=2026112[01]\/[^/]+\.txt$/)
    for (const line of body.toString().split('\n').filter(l => l !== '')) lines.set(line, [...(lines.get(line) ?? []), key.split('/')[2] as string])
  }
  texts.forEach((m, i) => { assert.deepEqual(lines.get(m.value), [i < 300 ? 'day=20261120' : 'day=20261121'], m.value) })
  assert.equal(lines.size, texts.length)
  // backup: offset buckets, length-prefixed raw bytes with zstd, every message once and byte for byte
  const blobs = new Map<number, string[]>()
  for (const [key, body] of data.filter(([k]) => k.startsWith('logs/backup/'))) {
    const m = /^logs\/backup\/offset=(\d+)\/1_0_(\d{20})\.bin\.zst$/.exec(key)
    assert.ok(m !== null, key)
    const bucket = Number(m[1])
    const plain = zstdDecompressFrames(body)
    for (let at = 0, offset = Number(m[2]); at < plain.length; offset++) {
      const n = plain.readUInt32BE(at)
      const value = plain.subarray(at + 4, at + 4 + n)
      at += 4 + n
      assert.equal(bucket, offset - (offset % 100), `offset ${offset} in bucket ${bucket}`)
      blobs.set(offset, [...(blobs.get(offset) ?? []), value.toString('latin1')])
    }
  }
  backup.forEach((m, i) => { assert.deepEqual(blobs.get(i), [m.value.toString('latin1')], `offset ${i}`) })
  assert.equal(blobs.size, backup.length)
  // the override's cut size applies to its topic only
  const textCuts = commits.filter(c => c.topic === 'texts' && c.reason === 'size').length
  const eventCuts = commits.filter(c => c.topic === 'events' && c.reason === 'size').length
  assert.ok(textCuts >= 2, `texts cut by size (${textCuts})`)
  assert.equal(eventCuts, 0, 'events keep the top-level 256 KiB cut size')
})

test('topicOverrides: validated like the top level, with the override path in messages', () => {
  const base = { kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['a'] }, sink: { type: 'file', directory: '/tmp/x' } }
  const rejects = (overrides: unknown, path: RegExp): void => {
    assert.throws(() => validateConfig({ ...base, topicOverrides: overrides }), (err: unknown) => err instanceof ConfigError && path.test(err.path), JSON.stringify(overrides))
  }
  rejects([{ parser: { type: 'kafka-timestamp' } }], /^topicOverrides\[0\]$/)
  rejects([{ topics: ['a'], topicPattern: 'a' }], /^topicOverrides\[0\]$/)
  rejects([{ topics: ['a'], partition: { template: '{nope}' } }], /^topicOverrides\[0\]\.partition\.template$/)
  rejects([{ topics: ['a'], output: { format: 'csv' } }], /^topicOverrides\[0\]\.output\.columns$/)
  rejects([{ topics: ['a'], upload: { partSizeBytes: 6000000 } }], /^topicOverrides\[0\]\.upload\.partSizeBytes$/)
  rejects([{ topics: ['a'] }, { topicPattern: '(' }], /^topicOverrides\[1\]\.topicPattern$/)
  const ok = validateConfig({ ...base, output: { format: 'jsonl', compression: 'zstd' }, topicOverrides: [{ topicPattern: '^raw\\.', output: { compression: 'none' }, upload: { maxFileAgeSeconds: 60 } }] })
  const o = ok.topicOverrides?.[0]
  assert.equal(o?.output.format, 'jsonl', 'keys not given are inherited')
  assert.equal(o?.output.compression, 'none')
  assert.equal(o?.upload.maxFileAgeSeconds, 60)
  assert.equal(o?.parser.type, 'json')
  assert.equal(validateConfig(base).topicOverrides, undefined)
})
