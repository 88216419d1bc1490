import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

export interface TestPki {
  dir: string
  caFile: string
  serverCertFile: string
  serverKeyFile: string
  /** Client certificate (CN=sediment-client) and its key, encrypted with `clientKeyPassword`. */
  clientCertFile: string
  clientKeyFile: string
  clientKeyPassword: string
  /** A second CA, trusted by nobody, with a client certificate of its own (unencrypted key). */
  otherCaFile: string
  otherCertFile: string
  otherKeyFile: string
}

/** A throwaway CA with a server certificate for `serverName` and a client certificate, made with the openssl CLI. */
export async function makeTestPki (t: TestContext, serverName: string): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-pki-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const f = (name: string): string => join(dir, name)
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] }) }
  const ca = (name: string): void => {
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2', '-subj', `/CN=${name}`)
  }
  const leaf = (name: string, caName: string, cn: string, keyArgs: string[] = ['-nodes']): void => {
    ssl('req', '-newkey', 'rsa:2048', ...keyArgs, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`)
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.pem`), '-CAkey', f(`${caName}.key`), '-CAcreateserial',
      '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`))
  }
  ca('test-ca')
  ca('other-ca')
  await writeFile(f('server.ext'), `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`)
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n')
  await writeFile(f('other.ext'), 'extendedKeyUsage=clientAuth\n')
  leaf('server', 'test-ca', serverName)
  const clientKeyPassword = 'pki-pass-1234'
  leaf('client', 'test-ca', 'sediment-client', ['-passout', `pass:${clientKeyPassword}`])
  leaf('other', 'other-ca', 'intruder')
  return {
    dir,
    caFile: f('test-ca.pem'),
    serverCertFile: f('server.pem'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
    clientKeyPassword,
    otherCaFile: f('other-ca.pem'),
    otherCertFile: f('other.pem'),
    otherKeyFile: f('other.key')
  }
}
