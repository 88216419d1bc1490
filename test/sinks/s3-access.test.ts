import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream'
import { describe, test, type TestContext } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'
import { createStore } from '../../src/service.js'
import { S3Store } from '../../src/sinks/s3-store.js'
import { objectReaderFor } from '../../src/verify/object-reader.js'
import { S3TestServer } from '../../src/testing/s3-server.js'
import { classifyS3Request } from '../../src/testing/s3-fault-proxy.js'

const BUCKET = 'access-test'
const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'
const ROLE = 'arn:aws:iam::123456789012:role/sediment-writer'

interface Recorded { op: string, headers: IncomingHttpHeaders }

/** A loopback HTTP proxy in front of the S3 test server that records each request's operation and headers. */
async function recordingProxy (t: TestContext, target: string): Promise<{ endpoint: string, seen: Recorded[] }> {
  const seen: Recorded[] = []
  const to = new URL(target)
  const server: Server = createServer((req, res) => {
    seen.push({ op: classifyS3Request(req.method ?? 'GET', req.url ?? '/', req.headers), headers: req.headers })
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      pipeline(up, res, () => {})
    })
    pipeline(req, upstream, () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

async function s3 (t: TestContext): Promise<S3TestServer> {
  const server = await S3TestServer.start({ buckets: [BUCKET] })
  t.after(async () => { await server.stop() })
  return server
}

function config (sink: Record<string, unknown>): ReturnType<typeof validateConfig> {
  return validateConfig({ kafka: { brokers: ['b:1'], groupId: 'g', topics: ['t'] }, sink: { bucket: BUCKET, region: 'eu-west-1', forcePathStyle: true, ...sink } })
}

async function writeSome (store: S3Store | ReturnType<typeof createStore>): Promise<void> {
  const id = await store.createUpload('data/file-1.jsonl.gz')
  const part = await store.uploadPart('data/file-1.jsonl.gz', id, 1, Buffer.from('hello\n'))
  assert.equal(await store.completeUpload('data/file-1.jsonl.gz', id, [part]), 'completed')
  await store.put('_sediment/intent.json', Buffer.from('{}'))
  assert.equal(await store.size('data/file-1.jsonl.gz'), 6)
}

test('SSE-KMS with bucket key, storage class, tags and bucket-owner-full-control ride on the writes', async (t) => {
  const server = await s3(t)
  const proxy = await recordingProxy(t, server.endpoint)
  const store = createStore(config({
    endpoint: proxy.endpoint,
    credentials: server.clientConfig.credentials,
    encryption: { type: 'aws:kms', kmsKeyId: KMS_KEY, bucketKey: true },
    storageClass: 'STANDARD_IA',
    tags: { team: 'data platform', retention: 30 },
    acl: 'bucket-owner-full-control'
  }))
  t.after(async () => { await store.close() })
  await writeSome(store)

  const one = (op: string): IncomingHttpHeaders => {
    const r = proxy.seen.filter(s => s.op === op)
    assert.equal(r.length, 1, `${op}: ${r.length} requests`)
    return r[0]!.headers
  }
  for (const op of ['CreateMultipartUpload', 'PutObject']) {
    const h = one(op)
    assert.equal(h['x-amz-server-side-encryption'], 'aws:kms', op)
    assert.equal(h['x-amz-server-side-encryption-aws-kms-key-id'], KMS_KEY, op)
    assert.equal(h['x-amz-server-side-encryption-bucket-key-enabled'], 'true', op)
    assert.equal(h['x-amz-tagging'], 'team=data+platform&retention=30', op)
    assert.equal(h['x-amz-acl'], 'bucket-owner-full-control', op)
  }
  assert.equal(one('CreateMultipartUpload')['x-amz-storage-class'], 'STANDARD_IA')
  assert.equal(one('PutObject')['x-amz-storage-class'], undefined, 'intents and manifests stay STANDARD')
  for (const op of ['UploadPart', 'CompleteMultipartUpload']) {
    const h = one(op)
    assert.equal(h['x-amz-server-side-encryption'], undefined, `${op} carries no SSE header (only SSE-C would)`)
    assert.equal(h['x-amz-tagging'], undefined)
  }
})

test('SSE-S3; and without settings no such header is sent', async (t) => {
  const server = await s3(t)
  const proxy = await recordingProxy(t, server.endpoint)
  const sse = createStore(config({ endpoint: proxy.endpoint, credentials: server.clientConfig.credentials, encryption: { type: 'aes256' } }))
  await writeSome(sse)
  await sse.close()
  for (const r of proxy.seen.filter(s => s.op === 'CreateMultipartUpload' || s.op === 'PutObject')) {
    assert.equal(r.headers['x-amz-server-side-encryption'], 'AES256')
    assert.equal(r.headers['x-amz-server-side-encryption-aws-kms-key-id'], undefined)
  }
  proxy.seen.length = 0
  const plain = createStore(config({ endpoint: proxy.endpoint, credentials: server.clientConfig.credentials }))
  await plain.put('x', Buffer.from('1'))
  await plain.close()
  const h = proxy.seen.find(s => s.op === 'PutObject')!.headers
  for (const name of ['x-amz-server-side-encryption', 'x-amz-storage-class', 'x-amz-tagging', 'x-amz-acl']) assert.equal(h[name], undefined, name)
})

test('assume-role: STS AssumeRole signed with the base credentials; S3 requests signed with the role session', async (t) => {
  const server = await s3(t)
  const proxy = await recordingProxy(t, server.endpoint)
  const stsCalls: Array<{ auth: string, params: URLSearchParams }> = []
  const sts = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      stsCalls.push({ auth: String(req.headers.authorization), params: new URLSearchParams(body) })
      const expiration = new Date(Date.now() + 3600_000).toISOString()
      res.writeHead(200, { 'content-type': 'text/xml' }).end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLESESSION1</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-session-token</SessionToken><Expiration>${expiration}</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/sediment-writer/sediment-test</Arn><AssumedRoleId>AROATEST:sediment-test</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
    })
  })
  await new Promise<void>(resolve => sts.listen(0, '127.0.0.1', resolve))
  t.after(async () => { await new Promise(resolve => sts.close(resolve)) })
  const cfg = config({
    endpoint: proxy.endpoint,
    credentials: { accessKeyId: 'AKIABASEUSER', secretAccessKey: 'base-secret' },
    assumeRole: { roleArn: ROLE, externalId: 'ext-42', sessionName: 'sediment-test', durationSeconds: 900, endpoint: `http://127.0.0.1:${(sts.address() as AddressInfo).port}` }
  })
  const store = createStore(cfg)
  t.after(async () => { await store.close() })
  await writeSome(store)
  await store.put('_sediment/second.json', Buffer.from('{}'))
  // verify's streaming reader reads back with the same role.
  const reader = objectReaderFor(cfg)
  assert.equal((await reader.digest('data/file-1.jsonl.gz'))?.bytes, 6)
  await reader.close()
  assert.equal(stsCalls.length, 2, 'the reader assumed the role for itself')

  const call = stsCalls[0]!
  assert.equal(call.params.get('Action'), 'AssumeRole')
  assert.equal(call.params.get('RoleArn'), ROLE)
  assert.equal(call.params.get('ExternalId'), 'ext-42')
  assert.equal(call.params.get('RoleSessionName'), 'sediment-test')
  assert.equal(call.params.get('DurationSeconds'), '900')
  assert.match(call.auth, /Credential=AKIABASEUSER\/\d{8}\/eu-west-1\/sts\/aws4_request/)
  assert.ok(proxy.seen.length >= 6 && proxy.seen.some(r => r.op === 'GetObject'))
  for (const r of proxy.seen) {
    assert.match(String(r.headers.authorization), /Credential=ASIAROLESESSION1\//, r.op)
    assert.equal(r.headers['x-amz-security-token'], 'role-session-token', r.op)
  }
})

describe('misconfiguration is refused at start, naming the field', () => {
  const rejects = (sink: Record<string, unknown>, path: string, message: RegExp): void => {
    assert.throws(() => config(sink), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err))
      assert.equal(err.path, path, err.message)
      assert.match(err.message, message)
      return true
    })
  }
  test('encryption, storage class, tags, acl, assume-role', () => {
    rejects({ encryption: { type: 'kms' } }, 'sink.encryption.type', /"aes256", "aws:kms"/)
    rejects({ encryption: { kmsKeyId: KMS_KEY } }, 'sink.encryption.type', /required/)
    rejects({ encryption: { type: 'aes256', kmsKeyId: KMS_KEY } }, 'sink.encryption.kmsKeyId', /only with type "aws:kms"/)
    rejects({ encryption: { type: 'aws:kms', kmsKeyId: 'my key' } }, 'sink.encryption.kmsKeyId', /KMS key id, key ARN, alias/)
    rejects({ encryption: { type: 'aes256', bucketKey: true } }, 'sink.encryption.bucketKey', /only with type "aws:kms"/)
    rejects({ storageClass: 'GLACIER' }, 'sink.storageClass', /cannot be read without a restore/)
    rejects({ storageClass: 'standard' }, 'sink.storageClass', /STANDARD_IA/)
    rejects({ tags: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }, 'sink.tags', /1 to 10 tags/)
    rejects({ tags: { 'aws:x': 'v' } }, 'sink.tags.aws:x', /does not start with "aws:"/)
    rejects({ acl: 'public-read' }, 'sink.acl', /bucket-owner-full-control/)
    rejects({ assumeRole: { roleArn: 'sediment-writer' } }, 'sink.assumeRole.roleArn', /IAM role ARN/)
    rejects({ assumeRole: { roleArn: ROLE, durationSeconds: 60 } }, 'sink.assumeRole.durationSeconds', /between 900 and 43200/)
    rejects({ assumeRole: { roleArn: ROLE, sessionName: 'has space' } }, 'sink.assumeRole.sessionName', /2 to 64/)
    rejects({ assumeRole: { roleArn: ROLE, roleSession: 'x' } }, 'sink.assumeRole.roleSession', /unknown key/)
    assert.throws(() => validateConfig({ kafka: { brokers: ['b:1'], groupId: 'g', topics: ['t'] }, sink: { type: 'file', directory: '/tmp/x', storageClass: 'STANDARD_IA' } }),
      /sink\.storageClass: not allowed when sink\.type is "file"/)
    // A library user's S3Store gets the same checks.
    assert.throws(() => new S3Store({ bucket: BUCKET, access: { storageClass: 'DEEP_ARCHIVE' as never } }), /access\.storageClass: "DEEP_ARCHIVE"/)
    assert.throws(() => new S3Store({ bucket: BUCKET, client: {} as never, access: { assumeRole: { roleArn: ROLE, sessionName: 'sediment', durationSeconds: 900 } } }), /access\.assumeRole: not with a shared client/)
  })
})
