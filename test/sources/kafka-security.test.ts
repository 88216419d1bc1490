import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, createHmac } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { pipeline } from 'node:stream'
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { describe, test, type TestContext } from 'node:test'
import { Kafka, logLevel, type ISocketFactory } from 'kafkajs'
import { applyEnvOverrides, validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'
import { describeKafkaSecurity, kafkajsSecurity } from '../../src/sources/kafka-security.js'
import { MSK_TOKEN_SECONDS, mskIamToken } from '../../src/sources/msk-iam-token.js'
import { MockKafka } from '../../src/testing/mock-kafka.js'
import { makeTestPki, type TestPki } from '../helpers/test-pki.js'

const SERVER_NAME = 'broker.sediment.test'

function config (kafka: Record<string, unknown>): unknown {
  return { kafka: { brokers: ['b:9093'], groupId: 'g', topics: ['t'], ...kafka }, sink: { bucket: 'bbb' } }
}

function rejects (raw: unknown, path: string, message?: RegExp): ConfigError {
  try {
    validateConfig(raw)
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    assert.equal(err.path, path, err.message)
    if (message !== undefined) assert.match(err.message, message)
    return err
  }
  assert.fail(`expected a ConfigError at ${path}`)
}

describe('kafka security validation', () => {
  test('SASL without TLS is refused, naming the field, unless allowInsecureSasl', () => {
    for (const sasl of [
      { mechanism: 'plain', username: 'u', password: 'secret-pw' },
      { mechanism: 'scram-sha-512', username: 'u', password: 'secret-pw' },
      { mechanism: 'oauthbearer', command: ['get-token'] },
      { mechanism: 'aws', region: 'eu-west-1' }
    ]) {
      const err = rejects(config({ sasl }), 'kafka.sasl.mechanism', /without TLS would send its (credentials|token) in clear text.*kafka\.ssl.*kafka\.allowInsecureSasl/)
      assert.ok(!err.message.includes('secret-pw'))
      assert.equal(validateConfig(config({ sasl, ssl: true })).kafka.sasl?.mechanism, sasl.mechanism)
      assert.equal(validateConfig(config({ sasl, allowInsecureSasl: true })).kafka.allowInsecureSasl, true)
    }
    rejects(config({ allowInsecureSasl: 'yes' }), 'kafka.allowInsecureSasl', /true or false/)
  })

  test('oauthbearer and aws settings', () => {
    const ok = validateConfig(config({
      ssl: true,
      sasl: { mechanism: 'oauthbearer', tokenEndpoint: { url: 'https://idp.example.com/token', clientId: 'c', clientSecret: 's', scope: 'kafka' }, extensions: { logicalCluster: 'lkc-1', identityPoolId: 'pool-2' } }
    })).kafka.sasl
    assert.deepEqual(ok, {
      mechanism: 'oauthbearer',
      refreshBeforeSeconds: 60,
      tokenEndpoint: { url: 'https://idp.example.com/token', clientId: 'c', clientSecret: 's', scope: 'kafka', clientAuth: 'basic' },
      extensions: { logicalCluster: 'lkc-1', identityPoolId: 'pool-2' }
    })
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer' } }), 'kafka.sasl', /exactly one of tokenEndpoint or command/)
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer', command: ['x'], tokenEndpoint: { url: 'https://a/t', clientId: 'c', clientSecret: 's' } } }), 'kafka.sasl', /exactly one/)
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer', tokenEndpoint: { url: 'http://idp.example.com/token', clientId: 'c', clientSecret: 's' } } }), 'kafka.sasl.tokenEndpoint.url', /must be https/)
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer', tokenEndpoint: { url: 'https://idp/t', clientId: 'c' } } }), 'kafka.sasl.tokenEndpoint.clientSecret', /required/)
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer', command: 'get-token' } }), 'kafka.sasl.command', /non-empty list/)
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer', command: ['x'], extensions: { auth: 'x' } } }), 'kafka.sasl.extensions.auth')
    rejects(config({ ssl: true, sasl: { mechanism: 'oauthbearer', command: ['x'], username: 'u' } }), 'kafka.sasl.username', /unknown key/)
    rejects(config({ ssl: true, sasl: { mechanism: 'aws' } }), 'kafka.sasl.region', /required/)
    rejects(config({ ssl: true, sasl: { mechanism: 'aws', region: 'Frankfurt' } }), 'kafka.sasl.region', /AWS region/)
    rejects(config({ ssl: true, sasl: { mechanism: 'gssapi' } }), 'kafka.sasl.mechanism')
    assert.equal(describeKafkaSecurity({ ssl: true, sasl: { mechanism: 'aws', region: 'us-east-1' } }), 'ssl, sasl MSK IAM (us-east-1)')
  })

  test('TLS files are read and checked at validation: missing file, key of another certificate, wrong or missing key password', async (t) => {
    const pki = await makeTestPki(t, SERVER_NAME)
    const tls = validateConfig(config({ ssl: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile, keyPassword: pki.clientKeyPassword, serverName: SERVER_NAME } })).kafka.ssl
    assert.deepEqual(tls, { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile, keyPassword: pki.clientKeyPassword, serverName: SERVER_NAME })
    assert.equal(describeKafkaSecurity({ ssl: tls }), 'ssl (own CA) with client certificate')
    rejects(config({ ssl: { caFile: `${pki.dir}/nope.pem` } }), 'kafka.ssl.caFile', /cannot read .*nope\.pem: ENOENT/)
    rejects(config({ ssl: { caFile: pki.clientKeyFile } }), 'kafka.ssl.caFile', /no PEM certificate/)
    rejects(config({ ssl: { certFile: pki.clientCertFile } }), 'kafka.ssl.keyFile', /give both or neither/)
    rejects(config({ ssl: { keyFile: pki.otherKeyFile } }), 'kafka.ssl.certFile', /give both or neither/)
    rejects(config({ ssl: { certFile: pki.clientCertFile, keyFile: pki.otherKeyFile } }), 'kafka.ssl.keyFile', /not the key of the certificate in kafka\.ssl\.certFile/)
    const wrong = rejects(config({ ssl: { certFile: pki.clientCertFile, keyFile: pki.clientKeyFile, keyPassword: 'wrong-password-x' } }), 'kafka.ssl.keyFile', /wrong keyPassword/)
    assert.ok(!wrong.message.includes('wrong-password-x'))
    rejects(config({ ssl: { certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } }), 'kafka.ssl.keyFile', /encrypted\? set keyPassword/)
    rejects(config({ ssl: { ca: 'x', caFile: pki.caFile } }), 'kafka.ssl.ca', /not both/)
    rejects(config({ ssl: { keyPassword: 'p' } }), 'kafka.ssl.keyPassword', /only with a client key/)
    rejects(config({ ssl: { sni: 'x' } }), 'kafka.ssl.sni', /unknown key/)
  })

  test('PEM and SASL secrets from the environment (SEDIMENT_KAFKA_SSL_*, SEDIMENT_KAFKA_SASL_*), also over ssl: true', async (t) => {
    const pki = await makeTestPki(t, SERVER_NAME)
    const env = {
      SEDIMENT_KAFKA_SSL_CA: readFileSync(pki.caFile, 'utf8'),
      SEDIMENT_KAFKA_SSL_CERT: readFileSync(pki.clientCertFile, 'utf8'),
      SEDIMENT_KAFKA_SSL_KEY: readFileSync(pki.clientKeyFile, 'utf8'),
      SEDIMENT_KAFKA_SSL_KEY_PASSWORD: pki.clientKeyPassword,
      SEDIMENT_KAFKA_SASL_PASSWORD: 'from-env'
    }
    const raw = config({ ssl: true, sasl: { mechanism: 'plain', username: 'u' } })
    const k = validateConfig(applyEnvOverrides(raw, env)).kafka
    assert.equal(typeof k.ssl, 'object')
    const built = kafkajsSecurity(k).ssl as { ca: string, cert: string, key: string, passphrase: string }
    assert.equal(built.ca, env.SEDIMENT_KAFKA_SSL_CA)
    assert.equal(built.passphrase, pki.clientKeyPassword)
    assert.deepEqual(kafkajsSecurity(k).sasl, { mechanism: 'plain', username: 'u', password: 'from-env' })
    const secret = validateConfig(applyEnvOverrides(config({ ssl: true, sasl: { mechanism: 'oauthbearer', tokenEndpoint: { url: 'https://idp/t', clientId: 'c' } } }), { SEDIMENT_KAFKA_SASL_CLIENT_SECRET: 'env-secret' })).kafka.sasl
    assert.equal(secret?.mechanism === 'oauthbearer' ? secret.tokenEndpoint?.clientSecret : undefined, 'env-secret')
  })
})

/** SigV4 query-string verification written from the AWS documentation, independent of the SDK's signer. */
function verifySigV4Presigned (url: URL, secretAccessKey: string): boolean {
  const params = [...url.searchParams.entries()].filter(([k]) => k !== 'X-Amz-Signature' && k !== 'User-Agent')
  const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  const query = params.map(([k, v]) => [enc(k), enc(v)]).sort(([a], [b]) => a! < b! ? -1 : a! > b! ? 1 : 0).map(([k, v]) => `${k}=${v}`).join('&')
  const emptyHash = createHash('sha256').update('').digest('hex')
  const canonical = ['GET', '/', query, `host:${url.hostname}\n`, 'host', emptyHash].join('\n')
  const date = url.searchParams.get('X-Amz-Date')!
  const scope = url.searchParams.get('X-Amz-Credential')!.split('/').slice(1).join('/')
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
  const [day, region, service] = scope.split('/')
  let key: Buffer = createHmac('sha256', `AWS4${secretAccessKey}`).update(day!).digest()
  for (const part of [region!, service!, 'aws4_request']) key = createHmac('sha256', key).update(part).digest()
  return createHmac('sha256', key).update(toSign).digest('hex') === url.searchParams.get('X-Amz-Signature')
}

test('MSK IAM token: a base64url SigV4 presigned kafka-cluster:Connect URL, valid 900 s, with the session token', async () => {
  const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session/token+with=chars' }
  const at = new Date('2026-12-06T09:30:00Z')
  const token = await mskIamToken('eu-west-1', creds, at)
  assert.match(token.value, /^[A-Za-z0-9_-]+$/, 'base64url without padding')
  assert.equal(token.expiresAt, at.getTime() + MSK_TOKEN_SECONDS * 1000)
  const url = new URL(Buffer.from(token.value, 'base64url').toString('utf8'))
  assert.equal(url.origin, 'https://kafka.eu-west-1.amazonaws.com')
  assert.equal(url.searchParams.get('Action'), 'kafka-cluster:Connect')
  assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256')
  assert.equal(url.searchParams.get('X-Amz-Credential'), 'AKIDEXAMPLE/20261206/eu-west-1/kafka-cluster/aws4_request')
  assert.equal(url.searchParams.get('X-Amz-Date'), '20261206T093000Z')
  assert.equal(url.searchParams.get('X-Amz-Expires'), '900')
  assert.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host')
  assert.equal(url.searchParams.get('X-Amz-Security-Token'), creds.sessionToken)
  assert.ok(url.searchParams.get('User-Agent'))
  assert.ok(verifySigV4Presigned(url, creds.secretAccessKey), 'the signature verifies')
  assert.ok(!verifySigV4Presigned(url, 'another-secret'))

  // Through the kafkajs provider: credentials asked for on demand, tokens cached until near expiry.
  let asked = 0
  const sasl = kafkajsSecurity({ ssl: true, sasl: { mechanism: 'aws', region: 'us-east-1' } }, { awsCredentials: async () => { asked++; return creds } }).sasl as { mechanism: string, oauthBearerProvider: () => Promise<{ value: string }> }
  assert.equal(sasl.mechanism, 'oauthbearer')
  const first = await sasl.oauthBearerProvider()
  assert.equal((await sasl.oauthBearerProvider()).value, first.value)
  assert.equal(asked, 1)
})

// ---------------------------------------------------------------------------------------------------------------
// TLS against the mock cluster behind a TLS-terminating proxy
// ---------------------------------------------------------------------------------------------------------------

interface TlsProxy { port: number, peers: string[], clientErrors: string[] }

/** Terminates TLS (server certificate for SERVER_NAME, client certificates required from the test CA) in front of the broker. */
async function tlsProxy (t: TestContext, pki: TestPki, targetPort: number): Promise<TlsProxy> {
  const out: TlsProxy = { port: 0, peers: [], clientErrors: [] }
  const sockets = new Set<Socket>()
  const server = createTlsServer({
    key: readFileSync(pki.serverKeyFile),
    cert: readFileSync(pki.serverCertFile),
    ca: readFileSync(pki.caFile),
    requestCert: true,
    rejectUnauthorized: true
  }, (client: TLSSocket) => {
    out.peers.push(String(client.getPeerCertificate().subject?.CN))
    const upstream = netConnect(targetPort, '127.0.0.1')
    sockets.add(client).add(upstream)
    pipeline(client, upstream, () => { upstream.destroy() })
    pipeline(upstream, client, () => { client.destroy() })
  })
  server.on('tlsClientError', (err) => { out.clientErrors.push(err.message) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  out.port = (server.address() as { port: number }).port
  t.after(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return out
}

/**
 * kafkajs' own socket factory (network/socketFactory.js) plus one change: connections to the mock's advertised
 * plaintext port go to the TLS proxy instead (the mock cannot advertise another address). The TLS options are
 * exactly what kafkajsSecurity built.
 */
function remappingSocketFactory (from: number, to: number): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const p = port === from ? to : port
    const socket = ssl !== undefined && ssl !== null
      ? tlsConnect(Object.assign({ host, port: p }, isIP(host) === 0 ? { servername: host } : {}, ssl), onConnect)
      : netConnect({ host, port: p }, onConnect)
    socket.setKeepAlive(true, 60_000)
    return socket
  }
}

test('mTLS with a CA bundle, an encrypted client key and a server-name override: produce and consume through a TLS-terminating proxy', { timeout: 90_000 }, async (t) => {
  const pki = await makeTestPki(t, SERVER_NAME)
  const kafka = await MockKafka.start()
  t.after(async () => { await kafka.stop() })
  const brokerPort = Number(kafka.bootstrap[0]!.split(':').pop())
  const proxy = await tlsProxy(t, pki, brokerPort)
  const topic = 'tls-topic'
  await kafka.createTopic(topic, 1)

  const client = (ssl: unknown): Kafka => {
    const k = validateConfig(config({ brokers: [`127.0.0.1:${proxy.port}`], ssl })).kafka
    return new Kafka({
      clientId: 'tls-test',
      brokers: k.brokers,
      ...kafkajsSecurity(k),
      socketFactory: remappingSocketFactory(brokerPort, proxy.port),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 5000,
      retry: { retries: 0 }
    })
  }
  const good = { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile, keyPassword: pki.clientKeyPassword, serverName: SERVER_NAME }
  const ok = client(good)
  const producer = ok.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ value: 'over tls 1' }, { value: 'over tls 2' }] })
  await producer.disconnect()
  const admin = ok.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  assert.equal(offsets[0]!.high, '2')
  assert.ok(proxy.peers.length >= 2 && proxy.peers.every(cn => cn === 'sediment-client'), `peers ${proxy.peers.join(',')}`)

  // Each option matters: without the CA the broker is not trusted; under another name the certificate does not
  // match; without a client certificate (or with one from another CA) the broker refuses the handshake.
  const fails = async (ssl: unknown, why: RegExp): Promise<void> => {
    const a = client(ssl).admin()
    await assert.rejects(a.connect(), (err: Error) => { assert.match(`${err.message} ${String((err as { cause?: Error }).cause?.message)}`, why); return true })
    await a.disconnect()
  }
  await fails({ ...good, caFile: undefined }, /self[- ]signed|unable to (get|verify)|certificate/i)
  await fails({ ...good, serverName: 'other.sediment.test' }, /Hostname\/IP does not match|altnames|other\.sediment\.test/i)
  const before = proxy.clientErrors.length
  await fails({ caFile: pki.caFile, serverName: SERVER_NAME }, /certificate required/)
  await fails({ caFile: pki.caFile, serverName: SERVER_NAME, certFile: pki.otherCertFile, keyFile: pki.otherKeyFile }, /certificate|closed|ECONNRESET|socket|Connection error/i)
  assert.ok(proxy.clientErrors.length >= before + 2, `proxy saw ${proxy.clientErrors.join('; ')}`)
})

test('sediment validate: insecure SASL exits 2 naming the field; a secured config prints its security without secrets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-sec-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const root = new URL('../../', import.meta.url).pathname
  const run = async (config: unknown): Promise<{ code: number, stdout: string, stderr: string }> => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.json`)
    await writeFile(file, JSON.stringify(config))
    return await new Promise((resolve) => {
      execFile(process.execPath, [join(root, 'bin', 'sediment.js'), 'validate', '--config', file], { cwd: root }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : Number((err as { code?: number }).code), stdout, stderr })
      })
    })
  }
  const insecure = await run(config({ sasl: { mechanism: 'plain', username: 'u', password: 'pw-secret-123' } }))
  assert.equal(insecure.code, 2)
  assert.match(insecure.stderr, /kafka\.sasl\.mechanism: "plain" without TLS would send its credentials in clear text/)
  assert.ok(!insecure.stderr.includes('pw-secret-123'))
  const ok = await run(config({ ssl: true, sasl: { mechanism: 'oauthbearer', tokenEndpoint: { url: 'https://idp.example.com/token', clientId: 'c', clientSecret: 'cs-secret-456' } } }))
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.stdout, /ssl, sasl oauthbearer from idp\.example\.com/)
  assert.ok(!ok.stdout.includes('cs-secret-456'))
})
