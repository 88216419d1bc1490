import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { createLogger } from '../../src/logger.js'
import { OAuthTokenProvider, jwtExpiry } from '../../src/sources/oauth-token.js'

const SECRET = 'client-secret-7f3a9c'

interface Seen { auth: string | undefined, body: URLSearchParams }

/** A client-credentials token endpoint on 127.0.0.1:0; `answer` decides each response. */
async function tokenEndpoint (t: TestContext, answer: (n: number, seen: Seen) => { status: number, body: unknown }): Promise<{ url: string, seen: Seen[] }> {
  const seen: Seen[] = []
  const server: Server = createServer((req: IncomingMessage, res) => {
    let data = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { data += c })
    req.on('end', () => {
      const s = { auth: req.headers.authorization, body: new URLSearchParams(data) }
      seen.push(s)
      const a = answer(seen.length, s)
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { await new Promise(resolve => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`, seen }
}

function capturedLogger (): { logger: ReturnType<typeof createLogger>, text: () => string } {
  let out = ''
  const destination = new Writable({ write (chunk: Buffer, _e, cb) { out += chunk.toString(); cb() } })
  return { logger: createLogger({ level: 'trace', destination }), text: () => out }
}

test('token endpoint: client credentials with HTTP Basic, cached, refreshed before expiry, one fetch at a time', async (t) => {
  const { url, seen } = await tokenEndpoint(t, n => ({ status: 200, body: { access_token: `token-${n}`, token_type: 'Bearer', expires_in: 300 } }))
  let now = 1_000_000
  const log = capturedLogger()
  const provider = new OAuthTokenProvider({
    config: { tokenEndpoint: { url, clientId: 'sediment', clientSecret: SECRET, scope: 'kafka', clientAuth: 'basic' }, extensions: { logicalCluster: 'lkc-1' }, refreshBeforeSeconds: 60 },
    logger: log.logger,
    now: () => now
  })
  // Concurrent connections share one fetch.
  const [a, b] = await Promise.all([provider.kafkajsProvider(), provider.kafkajsProvider()])
  assert.deepEqual(a, { value: 'token-1', extensions: { logicalCluster: 'lkc-1' } })
  assert.equal(b.value, 'token-1')
  assert.equal(seen.length, 1)
  assert.equal(seen[0]!.auth, `Basic ${Buffer.from(`sediment:${SECRET}`).toString('base64')}`)
  assert.equal(seen[0]!.body.get('grant_type'), 'client_credentials')
  assert.equal(seen[0]!.body.get('scope'), 'kafka')
  assert.equal(seen[0]!.body.get('client_secret'), null, 'basic auth: the secret is not in the body')

  now += 239_000 // 61 s before expiry: still the cached token
  assert.equal((await provider.token()).value, 'token-1')
  assert.equal(seen.length, 1)
  now += 2_000 // 59 s before expiry: inside refreshBeforeSeconds, replaced before it expires
  assert.equal((await provider.token()).value, 'token-2')
  assert.equal(seen.length, 2)
  assert.equal((await provider.token()).expiresAt, now + 300_000)

  assert.match(log.text(), /OAuth token fetched/)
  assert.ok(!log.text().includes(SECRET), 'the client secret is never logged')
  assert.ok(!log.text().includes('token-1') && !log.text().includes('token-2'), 'tokens are never logged')
})

test('token endpoint: client_secret in the body when clientAuth is body; short tokens refresh at half their life', async (t) => {
  const { url, seen } = await tokenEndpoint(t, n => ({ status: 200, body: { access_token: `t${n}`, expires_in: 20 } }))
  let now = 0
  const provider = new OAuthTokenProvider({ config: { tokenEndpoint: { url, clientId: 'c', clientSecret: SECRET, audience: 'kafka-aud', clientAuth: 'body' }, refreshBeforeSeconds: 60 }, now: () => now })
  assert.equal((await provider.token()).value, 't1')
  assert.equal(seen[0]!.auth, undefined)
  assert.equal(seen[0]!.body.get('client_secret'), SECRET)
  assert.equal(seen[0]!.body.get('audience'), 'kafka-aud')
  now = 9_999
  assert.equal((await provider.token()).value, 't1')
  now = 10_000
  assert.equal((await provider.token()).value, 't2')
})

test('token endpoint errors are clear, never carry the secret, and a still valid token outlives a failed refresh', async (t) => {
  let fail = false
  const { url } = await tokenEndpoint(t, () => fail
    ? { status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed', echo: SECRET } }
    : { status: 200, body: { access_token: 'good', expires_in: 100 } })
  let now = 0
  const log = capturedLogger()
  const provider = new OAuthTokenProvider({ config: { tokenEndpoint: { url, clientId: 'c', clientSecret: SECRET, clientAuth: 'basic' }, refreshBeforeSeconds: 30 }, logger: log.logger, now: () => now })
  assert.equal((await provider.token()).value, 'good')
  fail = true
  now = 80_000 // refresh due, 20 s left: the old token is kept
  assert.equal((await provider.token()).value, 'good')
  assert.match(log.text(), /refresh failed; using the current token/)
  now = 96_000 // 4 s left: no longer usable, the error surfaces
  await assert.rejects(provider.token(), (err: Error) => {
    assert.match(err.message, /HTTP 401 \(invalid_client: Client authentication failed\)/)
    assert.match(err.message, /token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth2\/token/)
    assert.ok(!err.message.includes(SECRET))
    return true
  })
  assert.ok(!log.text().includes(SECRET))

  const unreachable = new OAuthTokenProvider({ config: { tokenEndpoint: { url: 'http://127.0.0.1:1/token', clientId: 'c', clientSecret: SECRET, clientAuth: 'basic' }, refreshBeforeSeconds: 30 } })
  await assert.rejects(unreachable.token(), /OAuth token endpoint http:\/\/127\.0\.0\.1:1\/token unreachable/)
  const { url: noToken } = await tokenEndpoint(t, () => ({ status: 200, body: { token_type: 'Bearer' } }))
  await assert.rejects(new OAuthTokenProvider({ config: { tokenEndpoint: { url: noToken, clientId: 'c', clientSecret: SECRET, clientAuth: 'basic' }, refreshBeforeSeconds: 30 } }).token(), /gave no access_token/)
})

test('command: raw JWT (exp from its claims) or JSON on stdout; a failing command names its exit code, not its stderr', async () => {
  const exp = 2_000_000_000
  const jwt = `e30.${Buffer.from(JSON.stringify({ exp, sub: 'x' })).toString('base64url')}.sig`
  assert.equal(jwtExpiry(jwt), exp * 1000)
  assert.equal(jwtExpiry('opaque'), undefined)
  const raw = new OAuthTokenProvider({ config: { command: [process.execPath, '-e', `process.stdout.write(${JSON.stringify(jwt)} + '\\n')`], refreshBeforeSeconds: 60 } })
  assert.deepEqual(await raw.token(), { value: jwt, expiresAt: exp * 1000 })
  const json = new OAuthTokenProvider({ config: { command: [process.execPath, '-e', 'console.log(JSON.stringify({ access_token: "abc", expires_in: 60 }))'], refreshBeforeSeconds: 10 }, now: () => 5 })
  assert.deepEqual(await json.token(), { value: 'abc', expiresAt: 60_005 })
  const failing = new OAuthTokenProvider({ config: { command: [process.execPath, '-e', `console.error(${JSON.stringify(SECRET)}); process.exit(3)`], refreshBeforeSeconds: 10 } })
  await assert.rejects(failing.token(), (err: Error) => {
    assert.match(err.message, /OAuth command .* failed \(exit code 3\); its stderr \(\d+ chars\) is not shown/)
    assert.ok(!err.message.includes(SECRET))
    return true
  })
  const empty = new OAuthTokenProvider({ config: { command: [process.execPath, '-e', ''], refreshBeforeSeconds: 10 } })
  await assert.rejects(empty.token(), /printed no token/)
})
