import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CreateMultipartUploadCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3'
import { ConfigError } from '../../src/errors.js'
import { s3ClientConfig } from '../../src/sinks/s3-store.js'
import { S3TestServer } from '../../src/testing/s3-server.js'

const BUCKET = 's3-store-test'

/** The headers of the UploadPart request as it leaves the client (after the checksum middleware ran). */
async function partHeaders (s3: S3TestServer, checksum: 'when-supported' | 'when-required' | undefined): Promise<Record<string, string>> {
  const client = new S3Client(s3ClientConfig({
    bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.clientConfig.credentials,
    ...(checksum !== undefined ? { checksum } : {})
  }))
  let seen: Record<string, string> = {}
  client.middlewareStack.add((next) => async (args) => {
    seen = { ...(args.request as { headers: Record<string, string> }).headers }
    return await next(args)
  }, { step: 'finalizeRequest', priority: 'low', name: 'captureHeaders' })
  try {
    const key = `k-${String(checksum)}`
    const up = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))
    const body = Buffer.from('hello sediment\n')
    await client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: body, ContentLength: body.length }))
  } finally {
    client.destroy()
  }
  return seen
}

test('S3 client checksums: a CRC32 on every part by default (integrity), none when only required', async (t) => {
  const s3 = await S3TestServer.start({ buckets: [BUCKET] })
  t.after(() => s3.stop())
  const byDefault = await partHeaders(s3, undefined)
  // crc32("hello sediment\n"), base64 of its 4 big-endian bytes, as S3 checks it
  assert.match(byDefault['x-amz-checksum-crc32'] ?? '', /^[A-Za-z0-9+/]{6}==$/)
  assert.notEqual(byDefault['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD') // the body is also covered by the signature
  const required = await partHeaders(s3, 'when-required')
  assert.equal(required['x-amz-checksum-crc32'], undefined)
  assert.notEqual(required['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD')
})

test('S3 client options are validated beside the client', () => {
  assert.throws(() => s3ClientConfig({ bucket: 'b', checksum: 'never' as 'when-required' }), ConfigError)
  assert.throws(() => s3ClientConfig({ bucket: 'b', maxSockets: 0 }), ConfigError)
  const c = s3ClientConfig({ bucket: 'b' })
  assert.equal(c.requestChecksumCalculation, 'WHEN_SUPPORTED')
  assert.equal(c.responseChecksumValidation, 'WHEN_SUPPORTED')
})
