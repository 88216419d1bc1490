import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand,
  S3Client, UploadPartCommand
} from '@aws-sdk/client-s3'
import { S3FaultProxy, classifyS3Request } from '../../src/testing/s3-fault-proxy.js'
import { S3TestServer } from '../../src/testing/s3-server.js'

const Bucket = 'proxy-test'

test('S3FaultProxy in front of s3rver', { timeout: 60_000 }, async (t) => {
  const s3 = await S3TestServer.start({ buckets: [Bucket] })
  t.after(() => s3.stop())
  const proxy = await S3FaultProxy.start({ target: s3.endpoint })
  t.after(() => proxy.stop())
  // maxAttempts 1: every injected fault reaches the caller (the service's client retries; this one must not)
  const client = new S3Client({ ...s3.clientConfig, endpoint: proxy.endpoint, maxAttempts: 1 })
  t.after(() => { client.destroy() })
  const direct = new S3Client(s3.clientConfig)
  t.after(() => { direct.destroy() })
  const put = async (Key: string, Body = 'x'): Promise<void> => { await client.send(new PutObjectCommand({ Bucket, Key, Body })) }

  await t.test('classifies path-style requests into S3 operations', () => {
    const cases: Array<[string, string, string, Record<string, string>?]> = [
      ['POST', '/b/k/x.gz?uploads', 'CreateMultipartUpload'],
      ['PUT', '/b/k/x.gz?partNumber=1&uploadId=abc&x-id=UploadPart', 'UploadPart'],
      ['POST', '/b/k/x.gz?uploadId=abc', 'CompleteMultipartUpload'],
      ['DELETE', '/b/k/x.gz?uploadId=abc&x-id=AbortMultipartUpload', 'AbortMultipartUpload'],
      ['GET', '/b/k/x.gz?uploadId=abc', 'ListParts'],
      ['GET', '/b?uploads', 'ListMultipartUploads'],
      ['PUT', '/b/k/intent.json?x-id=PutObject', 'PutObject'],
      ['PUT', '/b/k/copy', 'CopyObject', { 'x-amz-copy-source': '/b/k/x' }],
      ['GET', '/b/k/x.gz?x-id=GetObject', 'GetObject'],
      ['HEAD', '/b/k/x.gz', 'HeadObject'],
      ['DELETE', '/b/k/intent.json?x-id=DeleteObject', 'DeleteObject'],
      ['GET', '/b?list-type=2&prefix=logs%2F', 'ListObjectsV2'],
      ['GET', '/b/?prefix=a', 'ListObjects'],
      ['HEAD', '/b', 'HeadBucket'],
      ['GET', '/', 'Other']
    ]
    for (const [method, url, op, headers] of cases) assert.equal(classifyS3Request(method, url, headers), op, `${method} ${url}`)
  })

  await t.test('pass forwards and counts per operation; multipart parts stream through (throttled)', async () => {
    proxy.resetStats()
    await put('a.txt', 'hello')
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'a.txt' }))
    assert.equal(await got.Body?.transformToString(), 'hello')

    // 5 MiB parts through a 20 MiB/s throttle (per request): ≥ 250 ms, and the object arrives intact
    await proxy.setMode({ mode: 'slow', bytesPerSecond: 20 * 1024 * 1024, operations: ['UploadPart'] })
    const Key = 'big.bin'
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }))
    const parts = [Buffer.alloc(5 * 1024 * 1024, 1), Buffer.alloc(5 * 1024 * 1024, 2), Buffer.from('tail')]
    const t0 = Date.now()
    const etags = await Promise.all(parts.map(async (Body, i) =>
      (await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }))).ETag))
    const ms = Date.now() - t0
    await client.send(new CompleteMultipartUploadCommand({
      Bucket, Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) }
    }))
    assert.ok(ms >= 240, `5 MiB parts at 20 MiB/s took ${ms} ms`)
    const head = await direct.send(new HeadObjectCommand({ Bucket, Key }))
    assert.equal(head.ContentLength, 10 * 1024 * 1024 + 4)
    const s = proxy.stats()
    assert.equal(s.byOperation.PutObject?.requests, 1)
    assert.equal(s.byOperation.GetObject?.requests, 1)
    assert.equal(s.byOperation.CreateMultipartUpload?.requests, 1)
    assert.equal(s.byOperation.UploadPart?.requests, 3)
    assert.equal(s.byOperation.UploadPart?.injected, 3)
    assert.equal(s.byOperation.UploadPart?.statuses['200'], 3)
    assert.equal(s.byOperation.CompleteMultipartUpload?.injected, 0)
    await proxy.setMode('pass')
  })

  await t.test('error: S3 XML errors the SDK understands, per operation and for the next N requests', async () => {
    await proxy.setMode({ mode: 'error', status: 503 })
    await assert.rejects(put('b.txt'), (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
      err.name === 'SlowDown' && err.$metadata?.httpStatusCode === 503)
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket, Key: 'a.txt' })), (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
      err.$metadata?.httpStatusCode === 503)

    // 500 only for CompleteMultipartUpload: the parts go through, the completion does not
    await proxy.setMode({ mode: 'error', status: 500, operations: ['CompleteMultipartUpload'] })
    const Key = 'c.bin'
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }))
    const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'part' }))
    const complete = new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] } })
    await assert.rejects(client.send(complete), { name: 'InternalError' })
    await put('c.txt') // other operations pass
    await proxy.setMode('pass')
    await client.send(complete)

    // the next 2 requests fail, then the rule is used up
    await proxy.setMode({ mode: 'error', status: 503, times: 2 })
    await assert.rejects(put('d.txt'), { name: 'SlowDown' })
    await assert.rejects(put('d.txt'), { name: 'SlowDown' })
    assert.equal(proxy.mode, 'pass')
    await put('d.txt')

    // a client that retries on its own: the proxy sees its retries (amz-sdk-request: attempt=N)
    const retrying = new S3Client({ ...s3.clientConfig, endpoint: proxy.endpoint, maxAttempts: 3 })
    try {
      proxy.resetStats()
      await proxy.setMode({ mode: 'error', status: 503, times: 2 })
      await retrying.send(new PutObjectCommand({ Bucket, Key: 'retried.txt', Body: 'x' }))
      assert.deepEqual([proxy.stats().requests, proxy.stats().injected, proxy.stats().sdkRetries], [3, 2, 2])
    } finally {
      retrying.destroy()
    }
  })

  await t.test('error with forward: the request takes effect, the answer is lost', async () => {
    const Key = 'e.bin'
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }))
    const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'forwarded' }))
    await proxy.setMode({ mode: 'error', status: 500, forward: true, operations: ['CompleteMultipartUpload'] })
    const complete = new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] } })
    await assert.rejects(client.send(complete), { name: 'InternalError' })
    assert.equal((await direct.send(new HeadObjectCommand({ Bucket, Key }))).ContentLength, 9)
    await proxy.setMode('pass')
    await assert.rejects(client.send(complete), { name: 'NoSuchUpload' }) // the retry finds it completed
  })

  await t.test('down refuses connections and drops in-flight requests; pass brings it back on the same port', async () => {
    await put('f.txt')
    await proxy.setMode('down')
    // the first request may still pick the pooled connection the proxy just dropped; the next one is refused
    await assert.rejects(put('f.txt'))
    await assert.rejects(put('f.txt'), (err: NodeJS.ErrnoException) => /ECONNREFUSED/.test(`${err.code ?? ''} ${err.message}`))
    await proxy.setMode('pass')
    await put('f.txt')

    // a request held by a slow response is dropped when the endpoint goes down
    await proxy.setMode({ mode: 'slow', delayMs: 2000 })
    const pending = put('g.txt')
    await new Promise((resolve) => setTimeout(resolve, 300))
    await proxy.setMode('down')
    await assert.rejects(pending)
    assert.ok(proxy.stats().droppedConnections >= 1)

    await proxy.setMode({ mode: 'down', how: 'reset' })
    await assert.rejects(put('h.txt'))
    await assert.rejects(put('h.txt'), (err: NodeJS.ErrnoException) => /ECONNRESET|socket hang up/i.test(`${err.code ?? ''} ${err.message}`))
    await proxy.setMode('pass')
    await put('h.txt')
  })

  await t.test('slow delays responses; reset drops the connection; stall never answers', async () => {
    await proxy.setMode({ mode: 'slow', delayMs: 400 })
    const t0 = Date.now()
    await put('i.txt')
    assert.ok(Date.now() - t0 >= 380)

    await proxy.setMode({ mode: 'reset', operations: ['PutObject'] })
    await assert.rejects(put('j.txt'), (err: NodeJS.ErrnoException) => /ECONNRESET|socket hang up/i.test(`${err.code ?? ''} ${err.message}`))
    await proxy.setMode({ mode: 'reset', forward: true, operations: ['PutObject'] })
    await assert.rejects(put('k.txt'))
    assert.equal((await direct.send(new HeadObjectCommand({ Bucket, Key: 'k.txt' }))).ContentLength, 1) // it landed

    await proxy.setMode({ mode: 'stall', operations: ['PutObject'] })
    let settled = false
    const stalled = put('l.txt').finally(() => { settled = true })
    stalled.catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 700))
    assert.equal(settled, false)
    assert.equal(proxy.stats().stalled, 1)
    await proxy.setMode('pass')
    await put('m.txt') // other connections work; the stalled one stays stuck
    assert.equal(settled, false)
    proxy.releaseStalled()
    await assert.rejects(stalled)
  })
})
