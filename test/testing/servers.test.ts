import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from '@aws-sdk/client-s3'
import { Kafka, logLevel } from 'kafkajs'
import { MockKafka } from '../../src/testing/mock-kafka.js'
import { S3TestServer } from '../../src/testing/s3-server.js'

/** kafkajs settings that suit the mock: short long-polls so heartbeats (and rebalance notices) are timely. */
const FAST_CONSUMER = { sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 200 }

test('MockKafka with kafkajs', async (t) => {
  const mock = await MockKafka.start({ brokers: 1 })
  t.after(() => mock.stop())
  const kafka = new Kafka({
    clientId: 'servers-test',
    brokers: mock.bootstrap,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 500,
    requestTimeout: 1500,
    // not 0: kafkajs admin/consumer load broker metadata only on a retry ("No brokers in the broker pool")
    retry: { retries: 3, initialRetryTime: 100 }
  })
  // the producer gives up at once, so that faults surface quickly
  const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } })
  await producer.connect()
  t.after(() => producer.disconnect())

  await t.test('createTopic rejects a duplicate and bad input', async () => {
    await mock.createTopic('dup', 1)
    await assert.rejects(mock.createTopic('dup', 1), /already exists/)
    await assert.rejects(mock.createTopic('bad', 0), /usage/)
    assert.throws(() => { void mock.createTopic('has space', 1) }, /invalid name/)
  })

  await t.test('a consumer group consumes, commits offset + metadata, admin fetches them', async (t) => {
    await mock.createTopic('events', 2)
    await producer.send({
      topic: 'events',
      messages: [
        { partition: 0, value: 'a0' }, { partition: 0, value: 'a1' },
        { partition: 1, value: 'b0' }, { partition: 1, value: 'b1' }, { partition: 1, value: 'b2' }
      ]
    })
    const consumer = kafka.consumer({ groupId: 'g-commit', ...FAST_CONSUMER })
    await consumer.connect()
    t.after(() => consumer.disconnect())
    await consumer.subscribe({ topic: 'events', fromBeginning: true })

    const got: string[] = []
    let firstMessageMs = 0
    const started = Date.now()
    const all = new Promise<void>((resolve, reject) => {
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (got.length === 0) firstMessageMs = Date.now() - started
          got.push(`${partition}:${message.offset}:${String(message.value)}`)
          if (got.length === 5) resolve()
        }
      }).catch(reject)
    })
    await all
    t.diagnostic(`fresh group: consumer.run -> first message ${firstMessageMs} ms`)
    assert.deepEqual(got.sort(), ['0:0:a0', '0:1:a1', '1:0:b0', '1:1:b1', '1:2:b2'])

    await consumer.commitOffsets([
      { topic: 'events', partition: 0, offset: '2', metadata: 'x' },
      { topic: 'events', partition: 1, offset: '1', metadata: '{"v":1,"file":"f.jsonl.gz"}' }
    ])
    const admin = kafka.admin()
    await admin.connect()
    t.after(() => admin.disconnect())
    const [fetched] = await admin.fetchOffsets({ groupId: 'g-commit', topics: ['events'] })
    assert.equal(fetched?.topic, 'events')
    assert.deepEqual(
      [...(fetched?.partitions ?? [])].sort((a, b) => a.partition - b.partition)
        .map(({ partition, offset, metadata }) => ({ partition, offset, metadata })),
      [
        { partition: 0, offset: '2', metadata: 'x' },
        { partition: 1, offset: '1', metadata: '{"v":1,"file":"f.jsonl.gz"}' }
      ]
    )
  })

  await t.test('brokerDown makes produce fail fast, brokerUp makes it work again', async () => {
    await mock.createTopic('faults', 1)
    await producer.send({ topic: 'faults', messages: [{ value: 'before' }] })

    await mock.brokerDown(1)
    const t0 = Date.now()
    await assert.rejects(producer.send({ topic: 'faults', messages: [{ value: 'while down' }] }))
    assert.ok(Date.now() - t0 < 5000, 'a produce to a down broker fails within the client timeouts')

    await mock.brokerUp(1)
    await eventually(() => producer.send({ topic: 'faults', messages: [{ value: 'after' }] }), 10_000)
  })

  await t.test('pushRequestErrors fails the next requests, setRtt delays responses', async () => {
    await mock.createTopic('injected', 1)
    await mock.pushRequestErrors(0 /* Produce */, 19 /* NOT_ENOUGH_REPLICAS */)
    await assert.rejects(producer.send({ topic: 'injected', messages: [{ value: 'x' }] }), /replicas/i)
    await producer.send({ topic: 'injected', messages: [{ value: 'y' }] })

    await mock.setRtt(1, 300)
    const t0 = Date.now()
    await producer.send({ topic: 'injected', messages: [{ value: 'slow' }] })
    assert.ok(Date.now() - t0 >= 250, `produce took ${Date.now() - t0} ms with 300 ms RTT`)
    await mock.setRtt(1, 0)
  })

  await t.test('stop() is idempotent and later commands reject', async () => {
    const other = await MockKafka.start()
    await other.stop()
    await other.stop()
    await assert.rejects(other.createTopic('x', 1), /stopped/)
  })
})

test('S3TestServer with @aws-sdk/client-s3', async (t) => {
  const server = await S3TestServer.start({ buckets: ['bucket-a'] })
  t.after(() => server.stop())
  // any static credentials are accepted
  const s3 = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'dummy', secretAccessKey: 'dummy' }
  })
  t.after(() => s3.destroy())
  const Bucket = 'bucket-a'

  await t.test('Put, Get, Head, Delete', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'dir/one.txt', Body: 'hello', ContentType: 'text/plain' }))
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'dir/one.txt' }))
    assert.equal(await got.Body?.transformToString(), 'hello')
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'dir/one.txt' }))
    assert.equal(head.ContentLength, 5)
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'dir/one.txt' }))
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket, Key: 'dir/one.txt' })), { name: 'NotFound' })
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket, Key: 'dir/one.txt' })), { name: 'NoSuchKey' })
  })

  await t.test('ListObjectsV2 pages past 1,000 keys in S3 key order', async () => {
    const keys = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(4, '0')}`)
    // keys whose directory-walk order differs from S3's byte order (s3rver got these wrong)
    keys.push('many-x/0', 'many.x', 'many/0999/deeper', 'many0')
    await mapLimit(keys, 64, (Key) => s3.send(new PutObjectCommand({ Bucket, Key, Body: 'x' })))

    const listed: string[] = []
    let pages = 0
    let ContinuationToken: string | undefined
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'many', ContinuationToken }))
      pages++
      listed.push(...(page.Contents ?? []).map((o) => o.Key ?? ''))
      ContinuationToken = page.NextContinuationToken
      assert.equal(page.IsTruncated, ContinuationToken !== undefined)
    } while (ContinuationToken !== undefined)
    assert.equal(pages, 2)
    assert.deepEqual(listed, [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
  })

  await t.test('multipart: complete, complete again -> NoSuchUpload, parts removed', async () => {
    const Key = 'mp/complete.bin'
    const part1 = Buffer.alloc(5 * 1024 * 1024, 'a')
    const part2 = Buffer.from('tail')
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))
    assert.ok(UploadId)
    const r1 = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: part1 }))
    const r2 = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: part2 }))
    const inProgress = await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'mp/' }))
    assert.deepEqual(inProgress.Uploads?.map((u) => [u.Key, u.UploadId]), [[Key, UploadId]])

    const MultipartUpload = { Parts: [{ PartNumber: 1, ETag: r1.ETag }, { PartNumber: 2, ETag: r2.ETag }] }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload }))
    const got = await s3.send(new GetObjectCommand({ Bucket, Key }))
    assert.ok(Buffer.concat([part1, part2]).equals(Buffer.from(await got.Body!.transformToByteArray())))

    await assert.rejects(
      s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload })),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
        err.name === 'NoSuchUpload' && err.$metadata?.httpStatusCode === 404
    )
    assert.deepEqual(await server.listIncompleteUploads(Bucket), [])
    assert.equal((await s3.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads, undefined)
  })

  await t.test('multipart: abort -> complete answers NoSuchUpload and no object exists', async () => {
    const Key = 'mp/aborted.bin'
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))
    const r1 = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'only part' }))
    assert.equal((await server.listIncompleteUploads(Bucket)).length, 1)

    const aborted = await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }))
    assert.equal(aborted.$metadata.httpStatusCode, 204)
    await assert.rejects(
      s3.send(new CompleteMultipartUploadCommand({
        Bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r1.ETag }] }
      })),
      { name: 'NoSuchUpload' }
    )
    await assert.rejects(s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })), { name: 'NoSuchUpload' })
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket, Key })), { name: 'NotFound' })
    assert.deepEqual(await server.listIncompleteUploads(Bucket), [])
  })

  await t.test('a SIGSTOPped server times requests out, SIGCONT resumes it', async () => {
    server.kill('SIGSTOP')
    try {
      await assert.rejects(
        s3.send(new HeadObjectCommand({ Bucket, Key: 'mp/complete.bin' }), { abortSignal: AbortSignal.timeout(300) })
      )
    } finally {
      server.kill('SIGCONT')
    }
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'mp/complete.bin' }))
    assert.equal(head.ContentLength, 5 * 1024 * 1024 + 4)
  })
})

test('the server processes die with their parent', async () => {
  const script = `
    import { MockKafka } from ${JSON.stringify(new URL('../../src/testing/mock-kafka.ts', import.meta.url).href)}
    import { S3TestServer } from ${JSON.stringify(new URL('../../src/testing/s3-server.ts', import.meta.url).href)}
    const mock = await MockKafka.start()
    const s3 = await S3TestServer.start()
    console.log(JSON.stringify({ mock: mock.pid, s3: s3.pid }))
    setInterval(() => {}, 1000)
  `
  const parent = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_TEST_CONTEXT: undefined }
  })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    parent.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '')
    })
    parent.once('exit', (code) => reject(new Error(`parent exited early (${String(code)})`)))
  })
  const pids = JSON.parse(line) as { mock: number, s3: number }
  assert.ok(isAlive(pids.mock) && isAlive(pids.s3))

  parent.kill('SIGKILL') // no exit hooks run: the children must notice on their own
  await eventually(async () => {
    assert.equal(isAlive(pids.mock), false, 'mock cluster still running')
    assert.equal(isAlive(pids.s3), false, 's3 server still running')
  }, 5000)
})

/** True while the process exists and is not a zombie (an orphan may wait a while to be reaped). */
function isAlive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

async function eventually<T> (fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(100)
    }
  }
}

async function mapLimit<T> (items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++] as T)
  }))
}
