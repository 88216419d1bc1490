/**
 * Kafka connection security: validation of `kafka.ssl` / `kafka.sasl` / `kafka.allowInsecureSasl`, and the
 * kafkajs `ssl` and `sasl` options built from them (one place for the consumer, the lag monitor, verify and
 * finalize). See README "Connecting".
 */
import { readFileSync } from 'node:fs'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { ConnectionOptions } from 'node:tls'
import type { KafkaConfig as KafkajsConfig, SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import { ConfigError, errorMessage } from '../errors.js'
import type { KafkaConfig, KafkaSaslConfig, KafkaTlsConfig } from '../config/types.js'
import { boolean, httpUrl, integer, isAbsent, isPlainObject, nonEmptyString, oneOf, optional, required, secretString, section, withDefault } from '../config/options.js'
import { OAuthTokenProvider } from './oauth-token.js'
import { defaultCredentialChain, mskIamToken, type AwsCredentialsProvider } from './msk-iam-token.js'

const SaslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer', 'aws'] as const
const PemPairs = [['caFile', 'ca'], ['certFile', 'cert'], ['keyFile', 'key']] as const

// ---------------------------------------------------------------------------------------------------------------
// Validation (called from src/config/options.ts)
// ---------------------------------------------------------------------------------------------------------------

/** `kafka.ssl`: true/false, or a mapping (TLS on). Files are read and parsed now, so `validate` reports them. */
export function kafkaSslConfig (raw: unknown, path: string): boolean | KafkaTlsConfig {
  if (!isPlainObject(raw)) return withDefault(raw, path, false, boolean)
  const obj = section(raw, path, ['caFile', 'ca', 'certFile', 'cert', 'keyFile', 'key', 'keyPassword', 'serverName'])
  const tls: KafkaTlsConfig = {}
  for (const [fileKey, pemKey] of PemPairs) {
    const file = optional(obj[fileKey], `${path}.${fileKey}`, nonEmptyString)
    const pem = optional(obj[pemKey], `${path}.${pemKey}`, secretString)
    if (file !== undefined && pem !== undefined) throw new ConfigError(`${path}.${pemKey}`, `give ${fileKey} or ${pemKey}, not both`)
    if (file !== undefined) tls[fileKey] = file
    if (pem !== undefined) tls[pemKey] = pem
  }
  const keyPassword = optional(obj.keyPassword, `${path}.keyPassword`, secretString)
  if (keyPassword !== undefined) tls.keyPassword = keyPassword
  const serverName = optional(obj.serverName, `${path}.serverName`, nonEmptyString)
  if (serverName !== undefined) tls.serverName = serverName
  const hasCert = tls.cert !== undefined || tls.certFile !== undefined
  const hasKey = tls.key !== undefined || tls.keyFile !== undefined
  if (hasCert !== hasKey) {
    throw new ConfigError(`${path}.${hasCert ? 'keyFile' : 'certFile'}`, 'a client certificate and its key go together (mTLS): give both or neither')
  }
  if (keyPassword !== undefined && !hasKey) throw new ConfigError(`${path}.keyPassword`, 'only with a client key (keyFile or key)')
  checkPem(tls, path)
  return tls
}

/** Reads and parses each PEM, so a wrong path, a key for another certificate or a wrong password fails at start. */
function checkPem (tls: KafkaTlsConfig, path: string): void {
  const material = tlsMaterial(tls, path)
  const certs = (pem: string, field: string): X509Certificate[] => {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
    if (blocks.length === 0) throw new ConfigError(field, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)')
    return blocks.map(b => {
      try { return new X509Certificate(b) } catch (err) { throw new ConfigError(field, `a certificate does not parse: ${errorMessage(err)}`) }
    })
  }
  if (material.ca !== undefined) certs(material.ca, `${path}.${tls.caFile !== undefined ? 'caFile' : 'ca'}`)
  if (material.cert !== undefined && material.key !== undefined) {
    const certField = `${path}.${tls.certFile !== undefined ? 'certFile' : 'cert'}`
    const keyField = `${path}.${tls.keyFile !== undefined ? 'keyFile' : 'key'}`
    const [leaf] = certs(material.cert, certField)
    let key
    try {
      key = createPrivateKey({ key: material.key, ...(tls.keyPassword !== undefined ? { passphrase: tls.keyPassword } : {}) })
    } catch (err) {
      // Node's message for a wrong or missing passphrase mentions neither; never echo the key.
      throw new ConfigError(keyField, `not a usable private key (${tls.keyPassword !== undefined ? 'wrong keyPassword?' : 'encrypted? set keyPassword'}): ${errorMessage(err).split('\n')[0] ?? ''}`)
    }
    if (leaf !== undefined && !leaf.checkPrivateKey(key)) throw new ConfigError(keyField, `is not the key of the certificate in ${certField}`)
  }
}

/** The PEM text of each part, read from its file where one is given. */
function tlsMaterial (tls: KafkaTlsConfig, path: string): { ca?: string, cert?: string, key?: string } {
  const out: { ca?: string, cert?: string, key?: string } = {}
  for (const [fileKey, pemKey] of PemPairs) {
    const file = tls[fileKey]
    if (file !== undefined) {
      try {
        out[pemKey] = readFileSync(file, 'utf8')
      } catch (err) {
        throw new ConfigError(`${path}.${fileKey}`, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`)
      }
    } else if (tls[pemKey] !== undefined) {
      out[pemKey] = tls[pemKey]
    }
  }
  return out
}

export function kafkaSaslConfig (raw: unknown, path: string): KafkaSaslConfig {
  const mechanism = required(isPlainObject(raw) ? raw.mechanism : raw, `${path}.mechanism`, oneOf(SaslMechanisms))
  if (mechanism === 'aws') {
    const obj = section(raw, path, ['mechanism', 'region'])
    return { mechanism, region: required(obj.region, `${path}.region`, awsRegion) }
  }
  if (mechanism === 'oauthbearer') {
    const obj = section(raw, path, ['mechanism', 'tokenEndpoint', 'command', 'extensions', 'refreshBeforeSeconds'])
    if (isAbsent(obj.tokenEndpoint) === isAbsent(obj.command)) {
      throw new ConfigError(path, 'mechanism "oauthbearer" needs exactly one of tokenEndpoint or command')
    }
    const config: KafkaSaslConfig = {
      mechanism,
      refreshBeforeSeconds: withDefault(obj.refreshBeforeSeconds, `${path}.refreshBeforeSeconds`, 60, integer(1, 3600))
    }
    const endpoint = optional(obj.tokenEndpoint, `${path}.tokenEndpoint`, tokenEndpoint)
    if (endpoint !== undefined) config.tokenEndpoint = endpoint
    const command = optional(obj.command, `${path}.command`, argv)
    if (command !== undefined) config.command = command
    const extensions = optional(obj.extensions, `${path}.extensions`, stringMap)
    if (extensions !== undefined) config.extensions = extensions
    return config
  }
  const obj = section(raw, path, ['mechanism', 'username', 'password'])
  return {
    mechanism,
    username: required(obj.username, `${path}.username`, nonEmptyString),
    password: required(obj.password, `${path}.password`, secretString)
  }
}

function tokenEndpoint (raw: unknown, path: string): NonNullable<Extract<KafkaSaslConfig, { mechanism: 'oauthbearer' }>['tokenEndpoint']> {
  const obj = section(raw, path, ['url', 'clientId', 'clientSecret', 'scope', 'audience', 'clientAuth'])
  const url = required(obj.url, `${path}.url`, httpUrl)
  // A client secret sent over plain HTTP is as exposed as a password; loopback is fine (sidecars, tests).
  const u = new URL(url)
  if (u.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) {
    throw new ConfigError(`${path}.url`, 'must be https (the client secret would cross the network in clear text); http only on loopback')
  }
  if (u.username !== '' || u.password !== '') throw new ConfigError(`${path}.url`, 'must not hold credentials; use clientId and clientSecret')
  const e: ReturnType<typeof tokenEndpoint> = {
    url,
    clientId: required(obj.clientId, `${path}.clientId`, nonEmptyString),
    clientSecret: required(obj.clientSecret, `${path}.clientSecret`, secretString),
    clientAuth: withDefault(obj.clientAuth, `${path}.clientAuth`, 'basic', oneOf(['basic', 'body'] as const))
  }
  const scope = optional(obj.scope, `${path}.scope`, nonEmptyString)
  if (scope !== undefined) e.scope = scope
  const audience = optional(obj.audience, `${path}.audience`, nonEmptyString)
  if (audience !== undefined) e.audience = audience
  return e
}

function argv (value: unknown, path: string): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(path, 'must be a non-empty list: the program and its arguments (no shell)')
  return value.map((v, i) => nonEmptyString(v, `${path}[${i}]`))
}

function stringMap (value: unknown, path: string): Record<string, string> {
  const obj = section(value, path, Object.keys(isPlainObject(value) ? value : {}))
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj)) {
    // SASL extension keys are alphabetic (RFC 7628 3.1); "auth" is reserved.
    if (!/^[A-Za-z]+$/.test(k) || k === 'auth') throw new ConfigError(`${path}.${k}`, 'an extension name is letters only, and not "auth"')
    Object.defineProperty(out, k, { value: nonEmptyString(v, `${path}.${k}`), enumerable: true, writable: true, configurable: true })
  }
  return out
}

function awsRegion (value: unknown, path: string): string {
  const s = nonEmptyString(value, path)
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(s)) throw new ConfigError(path, `must be an AWS region like us-east-1, got "${s}"`)
  return s
}

/** SASL sends a secret (password or bearer token): without TLS anyone on the path reads it. */
export function checkSaslTransport (config: Pick<KafkaConfig, 'ssl' | 'sasl' | 'allowInsecureSasl'>, path = 'kafka'): void {
  if (config.sasl === undefined || config.ssl !== false || config.allowInsecureSasl === true) return
  throw new ConfigError(`${path}.sasl.mechanism`,
    `"${config.sasl.mechanism}" without TLS would send its ${config.sasl.mechanism === 'plain' || config.sasl.mechanism.startsWith('scram') ? 'credentials' : 'token'} in clear text: ` +
    `set ${path}.ssl (true, or a mapping with caFile), or ${path}.allowInsecureSasl: true on a trusted network only`)
}

export function allowInsecureSasl (raw: unknown, path: string): boolean | undefined {
  return optional(raw, path, boolean)
}

// ---------------------------------------------------------------------------------------------------------------
// kafkajs options
// ---------------------------------------------------------------------------------------------------------------

export interface KafkajsSecurityOptions {
  logger?: Logger
  /** MSK IAM credentials (default: the AWS default chain). */
  awsCredentials?: AwsCredentialsProvider
}

/** The kafkajs `ssl` and `sasl` settings for a validated config (token providers are created here). */
export function kafkajsSecurity (config: Pick<KafkaConfig, 'ssl' | 'sasl'>, options: KafkajsSecurityOptions = {}): Pick<KafkajsConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkajsConfig, 'ssl' | 'sasl'> = {}
  if (config.ssl === true) out.ssl = true
  if (typeof config.ssl === 'object') out.ssl = kafkajsTls(config.ssl)
  if (config.sasl !== undefined) out.sasl = kafkajsSasl(config.sasl, options)
  return out
}

export function kafkajsTls (tls: KafkaTlsConfig, path = 'kafka.ssl'): ConnectionOptions {
  const m = tlsMaterial(tls, path)
  const out: ConnectionOptions = { rejectUnauthorized: true }
  if (m.ca !== undefined) out.ca = m.ca
  if (m.cert !== undefined) out.cert = m.cert
  if (m.key !== undefined) out.key = m.key
  if (tls.keyPassword !== undefined) out.passphrase = tls.keyPassword
  if (tls.serverName !== undefined) out.servername = tls.serverName
  return out
}

function kafkajsSasl (sasl: KafkaSaslConfig, options: KafkajsSecurityOptions): SASLOptions {
  const logger = options.logger?.child({ component: 'kafka-auth' })
  switch (sasl.mechanism) {
    case 'oauthbearer': {
      const { mechanism: _, ...config } = sasl
      const provider = new OAuthTokenProvider({ config, ...(logger !== undefined ? { logger } : {}) })
      return { mechanism: 'oauthbearer', oauthBearerProvider: provider.kafkajsProvider }
    }
    case 'aws': {
      const credentials = options.awsCredentials ?? defaultCredentialChain()
      const provider = new OAuthTokenProvider({
        config: { refreshBeforeSeconds: 60 },
        fetchToken: { fetch: async () => await mskIamToken(sasl.region, await credentials()), source: `MSK IAM signer (${sasl.region})` },
        ...(logger !== undefined ? { logger } : {})
      })
      return { mechanism: 'oauthbearer', oauthBearerProvider: provider.kafkajsProvider }
    }
    default:
      return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions
  }
}

/** For the startup summary: what secures the connection, no secrets. */
export function describeKafkaSecurity (config: Pick<KafkaConfig, 'ssl' | 'sasl'>): string {
  const tls = config.ssl === false
    ? 'plaintext'
    : config.ssl === true ? 'ssl' : `ssl${config.ssl.caFile !== undefined || config.ssl.ca !== undefined ? ' (own CA)' : ''}${config.ssl.certFile !== undefined || config.ssl.cert !== undefined ? ' with client certificate' : ''}`
  const s = config.sasl
  if (s === undefined) return tls
  const sasl = s.mechanism === 'aws'
    ? `sasl MSK IAM (${s.region})`
    : s.mechanism === 'oauthbearer'
      ? `sasl oauthbearer from ${s.tokenEndpoint !== undefined ? new URL(s.tokenEndpoint.url).host : 'a command'}`
      : `sasl ${s.mechanism} as ${s.username} (password redacted)`
  return `${tls}, ${sasl}`
}
