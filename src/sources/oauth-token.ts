/**
 * OAuth bearer tokens for Kafka SASL/OAUTHBEARER: fetched from a token endpoint (client credentials grant) or
 * printed by a command, cached, and replaced before they expire. kafkajs asks for a token on every new broker
 * connection and again before the broker's session lifetime (the token's remaining life) ends (KIP-368), so
 * renewing on demand ahead of expiry keeps every connection authenticated without a timer of our own.
 *
 * Neither the client secret nor a token is ever logged or put in an error message.
 */
import { execFile } from 'node:child_process'
import type { Logger } from 'pino'
import { ErrorCodes, SedimentError, errorMessage } from '../errors.js'
import type { KafkaOAuthBearerConfig } from '../config/types.js'

export interface BearerToken {
  value: string
  /** Epoch ms. */
  expiresAt: number
}

export interface OAuthTokenProviderOptions {
  config: Omit<KafkaOAuthBearerConfig, 'mechanism'>
  /** Instead of config's endpoint or command (MSK IAM signs its own tokens): how to get one, and its name for logs. */
  fetchToken?: { fetch: () => Promise<BearerToken>, source: string }
  logger?: Logger
  /** Bound on one fetch (HTTP request or command run), default 30 s. */
  timeoutMs?: number
  now?: () => number
}

/** A token without a stated lifetime (no expires_in, not a JWT with exp) is fetched again after this long. */
const UNKNOWN_LIFETIME_MS = 5 * 60_000

export class OAuthTokenProvider {
  readonly #o: OAuthTokenProviderOptions
  readonly #now: () => number
  #token: BearerToken | undefined
  #refreshAt = 0
  #inflight: Promise<BearerToken> | undefined

  constructor (options: OAuthTokenProviderOptions) {
    const c = options.config
    if (options.fetchToken === undefined && (c.tokenEndpoint === undefined) === (c.command === undefined)) {
      throw new SedimentError(ErrorCodes.CONFIG, 'OAUTHBEARER needs exactly one of tokenEndpoint or command')
    }
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** A valid token: the cached one until its refresh time, else a new one (one fetch at a time). */
  async token (): Promise<BearerToken> {
    const now = this.#now()
    if (this.#token !== undefined && now < this.#refreshAt) return this.#token
    this.#inflight ??= this.#refresh().finally(() => { this.#inflight = undefined })
    return await this.#inflight
  }

  /** The kafkajs `oauthBearerProvider`. */
  readonly kafkajsProvider = async (): Promise<{ value: string, extensions?: Record<string, string> }> => {
    const token = await this.token()
    const extensions = this.#o.config.extensions
    return extensions === undefined ? { value: token.value } : { value: token.value, extensions: { ...extensions } }
  }

  async #refresh (): Promise<BearerToken> {
    const log = this.#o.logger
    try {
      const fetched = await this.#fetch()
      const now = this.#now()
      const lifetime = Math.max(0, fetched.expiresAt - now)
      const before = Math.min(this.#o.config.refreshBeforeSeconds * 1000, lifetime / 2)
      this.#token = fetched
      this.#refreshAt = fetched.expiresAt - before
      log?.info({ expiresInSeconds: Math.round(lifetime / 1000), source: this.#source() }, 'OAuth token fetched')
      return fetched
    } catch (err) {
      // A still valid token keeps connections working through a short outage of the token endpoint.
      const old = this.#token
      if (old !== undefined && this.#now() < old.expiresAt - 5_000) {
        log?.warn({ err: errorMessage(err), expiresInSeconds: Math.round((old.expiresAt - this.#now()) / 1000) }, 'OAuth token refresh failed; using the current token until it expires')
        return old
      }
      throw err
    }
  }

  #source (): string {
    if (this.#o.fetchToken !== undefined) return this.#o.fetchToken.source
    const e = this.#o.config.tokenEndpoint
    return e !== undefined ? `token endpoint ${new URL(e.url).origin}${new URL(e.url).pathname}` : `command ${this.#o.config.command?.[0] ?? ''}`
  }

  async #fetch (): Promise<BearerToken> {
    if (this.#o.fetchToken !== undefined) return await this.#o.fetchToken.fetch()
    const e = this.#o.config.tokenEndpoint
    return e !== undefined ? await this.#fromEndpoint(e) : await this.#fromCommand(this.#o.config.command ?? [])
  }

  async #fromEndpoint (e: NonNullable<KafkaOAuthBearerConfig['tokenEndpoint']>): Promise<BearerToken> {
    const where = this.#source()
    const form = new URLSearchParams({ grant_type: 'client_credentials' })
    if (e.scope !== undefined) form.set('scope', e.scope)
    if (e.audience !== undefined) form.set('audience', e.audience)
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
    if (e.clientAuth === 'basic') {
      // RFC 6749 2.3.1: both form-encoded before base64.
      const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+')
      headers.authorization = `Basic ${Buffer.from(`${enc(e.clientId)}:${enc(e.clientSecret)}`).toString('base64')}`
    } else {
      form.set('client_id', e.clientId)
      form.set('client_secret', e.clientSecret)
    }
    let res: Response
    try {
      res = await fetch(e.url, { method: 'POST', headers, body: form.toString(), signal: AbortSignal.timeout(this.#o.timeoutMs ?? 30_000), redirect: 'error' })
    } catch (err) {
      throw new SedimentError(ErrorCodes.SOURCE, `OAuth ${where} unreachable: ${errorMessage(err)}`, { cause: err })
    }
    const text = await res.text().catch(() => '')
    let body: Record<string, unknown> = {}
    try {
      const parsed: unknown = JSON.parse(text)
      if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>
    } catch {}
    if (!res.ok) {
      // Only the standard error fields (RFC 6749 5.2): the rest of a body might echo what we sent.
      const detail = [body.error, body.error_description].filter(v => typeof v === 'string').join(': ')
      throw new SedimentError(ErrorCodes.SOURCE, `OAuth ${where} answered HTTP ${res.status}${detail !== '' ? ` (${detail})` : ''}`)
    }
    return this.#parsed(body, where)
  }

  async #fromCommand (argv: string[]): Promise<BearerToken> {
    const where = this.#source()
    const [file, ...args] = argv
    if (file === undefined) throw new SedimentError(ErrorCodes.CONFIG, 'OAuth token command is empty')
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(file, args, { timeout: this.#o.timeoutMs ?? 30_000, maxBuffer: 1024 * 1024, encoding: 'utf8' }, (err, out, stderr) => {
        if (err === null) { resolve(out); return }
        // stderr is not quoted: a failing token tool may print what it was given.
        const how = (err as { killed?: boolean }).killed === true ? 'timed out' : `failed (exit code ${String((err as { code?: unknown }).code)})`
        reject(new SedimentError(ErrorCodes.SOURCE, `OAuth ${where} ${how}; its stderr (${stderr.length} chars) is not shown`, { cause: new Error(err.message.split('\n')[0]) }))
      })
    })
    const out = stdout.trim()
    if (out === '') throw new SedimentError(ErrorCodes.SOURCE, `OAuth ${where} printed no token`)
    if (out.startsWith('{')) {
      let body: unknown
      try { body = JSON.parse(out) } catch { throw new SedimentError(ErrorCodes.SOURCE, `OAuth ${where} printed text starting with "{" that is not JSON`) }
      return this.#parsed(body as Record<string, unknown>, where)
    }
    return this.#parsed({ access_token: out }, where)
  }

  #parsed (body: Record<string, unknown>, where: string): BearerToken {
    const value = body.access_token
    if (typeof value !== 'string' || value === '') throw new SedimentError(ErrorCodes.SOURCE, `OAuth ${where} gave no access_token`)
    const now = this.#now()
    const expiresIn = Number(body.expires_in)
    if (body.expires_in !== undefined && Number.isFinite(expiresIn) && expiresIn > 0) return { value, expiresAt: now + expiresIn * 1000 }
    const exp = jwtExpiry(value)
    return { value, expiresAt: exp ?? now + UNKNOWN_LIFETIME_MS }
  }
}

/** The `exp` claim (epoch ms) of a JWT, or undefined for an opaque token. */
export function jwtExpiry (token: string): number | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown }
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined
  } catch {
    return undefined
  }
}
