import { randomBytes } from 'node:crypto'
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Transform, pipeline, type Readable, type Writable } from 'node:stream'

/**
 * An HTTP reverse proxy on 127.0.0.1 in front of an S3 endpoint (the s3rver test server), for fault tests: point
 * the service's `sink.endpoint` at `proxy.endpoint` and switch faults on and off while it runs.
 *
 *   const proxy = await S3FaultProxy.start({ target: s3.endpoint })
 *   await proxy.setMode({ mode: 'error', status: 503 })                                    // every request: SlowDown
 *   await proxy.setMode({ mode: 'error', status: 500, operations: ['CompleteMultipartUpload'] })
 *   await proxy.setMode({ mode: 'error', status: 503, times: 3 })                          // the next 3, then pass
 *   await proxy.setMode({ mode: 'slow', delayMs: 1500 })                                   // or bytesPerSecond
 *   await proxy.setMode({ mode: 'down' })                                                  // connections refused
 *   await proxy.setMode('pass')
 *   proxy.stats()   // requests, injected faults and SDK retries per S3 operation
 *   await proxy.stop()
 *
 * Bodies are streamed both ways (parts are 5+ MiB), never buffered. Requests are classified into S3 operations
 * from method + path-style URL + query (the service and the tests use forcePathStyle), so a fault can target,
 * say, only UploadPart or only CompleteMultipartUpload.
 */

export const S3Operations = [
  'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'ListParts',
  'ListMultipartUploads', 'PutObject', 'CopyObject', 'GetObject', 'HeadObject', 'DeleteObject', 'DeleteObjects',
  'ListObjects', 'ListObjectsV2', 'HeadBucket', 'CreateBucket', 'DeleteBucket', 'Other'
] as const
export type S3Operation = (typeof S3Operations)[number]

interface Targeting {
  /** Only requests of these operations are affected (default: all). */
  operations?: readonly S3Operation[]
  /** Affects only the next `times` matching requests, then the rule expires (default: until replaced). */
  times?: number
}

/**
 * What the proxy does with a request:
 * - `pass`: forward it.
 * - `error`: answer `status` with S3's XML error body (500 InternalError, 503 SlowDown, ...) without forwarding;
 *   with `forward: true` the request reaches S3 and takes effect, but its answer is replaced by the error
 *   (a lost response: the client must cope with "failed" requests that succeeded).
 * - `reset`: drop the connection (the client sees a socket hang up / ECONNRESET); `forward` as for `error`.
 * - `slow`: forward, but hold each response `delayMs` before its headers and/or throttle both bodies of each
 *   request to `bytesPerSecond` (per request, not shared).
 * - `stall`: read the request and never answer (an S3 front end that hangs). Stalled requests stay stalled after
 *   the mode changes, as a stuck TCP connection would, until `releaseStalled()` or `stop()`.
 * - `down`: the whole endpoint is unreachable: the proxy stops listening (connection refused; `how: 'reset'`:
 *   accepts and drops every connection instead) and drops the connections it has, in-flight requests included.
 */
export type FaultRule =
  | ({ mode: 'pass' } & Targeting)
  | ({ mode: 'error', status?: number, code?: string, message?: string, forward?: boolean } & Targeting)
  | ({ mode: 'reset', forward?: boolean } & Targeting)
  | ({ mode: 'slow', delayMs?: number, bytesPerSecond?: number } & Targeting)
  | ({ mode: 'stall' } & Targeting)

export interface DownMode { mode: 'down', how?: 'refuse' | 'reset' }

export type FaultMode = 'pass' | 'down' | FaultRule | DownMode | FaultRule[]

export interface S3FaultProxyOptions {
  /** The S3 endpoint to forward to, e.g. `http://127.0.0.1:4568`. */
  target: string
  /** Listen port on 127.0.0.1; default 0 (any free port). */
  port?: number
}

export interface OperationStats {
  /** Requests that arrived (a refused connection never becomes a request). */
  requests: number
  /** Requests a fault rule acted on (error, reset, slow, stall). */
  injected: number
  /** Requests that were an AWS SDK retry (`amz-sdk-request: attempt=N`, N > 1): retries the SDK made on its own. */
  sdkRetries: number
  /** Answers sent to the client by HTTP status, injected ones included. */
  statuses: Record<string, number>
}

export interface ProxyStats {
  mode: string
  requests: number
  injected: number
  sdkRetries: number
  byOperation: Partial<Record<S3Operation, OperationStats>>
  /** Connections dropped because the proxy was (or went) down. */
  droppedConnections: number
  /** Requests currently stalled. */
  stalled: number
  /** Forwarded requests that failed between the proxy and the target. */
  upstreamErrors: number
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect'])

const DEFAULT_CODES: Record<number, [string, string]> = {
  400: ['BadRequest', 'Bad Request'],
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  409: ['OperationAborted', 'A conflicting conditional operation is currently in progress against this resource. Please try again.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  501: ['NotImplemented', 'A header you provided implies functionality that is not implemented.'],
  503: ['SlowDown', 'Please reduce your request rate.']
}

interface ActiveRule { rule: FaultRule, remaining: number }

export class S3FaultProxy {
  readonly endpoint: string
  readonly port: number
  readonly #server: Server
  readonly #target: URL
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 })
  readonly #sockets = new Set<Socket>()
  readonly #stalled = new Set<Socket>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #rules: ActiveRule[] = []
  #down: DownMode | undefined
  #listening = true
  #modeName = 'pass'
  #stopping: Promise<void> | undefined
  #stats = emptyStats()
  #changing: Promise<void> = Promise.resolve()

  private constructor (server: Server, port: number, target: URL) {
    this.#server = server
    this.port = port
    this.endpoint = `http://127.0.0.1:${port}`
    this.#target = target
    server.on('connection', (socket: Socket) => {
      if (this.#down !== undefined) {
        // `how: 'reset'`, or a connection that raced the listener closing
        this.#stats.droppedConnections++
        socket.destroy()
        return
      }
      this.#sockets.add(socket)
      socket.once('close', () => {
        this.#sockets.delete(socket)
        this.#stalled.delete(socket)
      })
    })
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { this.#onRequest(req, res) })
    // A client that goes away mid-request must not crash the proxy.
    server.on('clientError', (_err, socket) => { socket.destroy() })
  }

  static async start (options: S3FaultProxyOptions): Promise<S3FaultProxy> {
    const target = new URL(options.target)
    if (target.protocol !== 'http:') throw new Error(`S3FaultProxy forwards plain http only, got ${options.target}`)
    const server = createServer({ keepAlive: true })
    await listen(server, options.port ?? 0)
    return new S3FaultProxy(server, (server.address() as AddressInfo).port, target)
  }

  /**
   * Replaces the fault rules. Rules are tried in order; the first that matches a request (operation, and not
   * used up) applies; no match = pass. 'down' stops the listener; any other mode starts it again (same port).
   */
  setMode (mode: FaultMode): Promise<void> {
    // one change at a time: 'down' and back must not interleave their listener changes
    const next = this.#changing.then(async () => { await this.#setMode(mode) })
    this.#changing = next.catch(() => {})
    return next
  }

  async #setMode (mode: FaultMode): Promise<void> {
    if (this.#stopping !== undefined) throw new Error('S3FaultProxy is stopped')
    if (mode === 'down' || (!Array.isArray(mode) && typeof mode === 'object' && mode.mode === 'down')) {
      const down: DownMode = mode === 'down' ? { mode: 'down' } : mode as DownMode
      this.#rules = []
      this.#down = down
      this.#modeName = `down(${down.how ?? 'refuse'})`
      if (down.how !== 'reset' && this.#listening) {
        this.#listening = false
        await new Promise<void>((resolve) => {
          this.#server.close(() => { resolve() })
          this.#dropAll() // close() waits for open connections: drop them, in-flight requests included
        })
      } else {
        this.#dropAll()
        if (down.how === 'reset' && !this.#listening) {
          await listen(this.#server, this.port)
          this.#listening = true
        }
      }
      return
    }
    const rules = mode === 'pass' ? [] : Array.isArray(mode) ? mode : [mode as FaultRule]
    for (const r of rules) {
      if (r.times !== undefined && (!Number.isInteger(r.times) || r.times < 1)) throw new Error(`times must be a positive integer, got ${r.times}`)
      if (r.mode === 'error' && r.status !== undefined && (r.status < 200 || r.status > 599)) throw new Error(`invalid status ${r.status}`)
      for (const op of r.operations ?? []) if (!(S3Operations as readonly string[]).includes(op)) throw new Error(`unknown S3 operation ${op}`)
    }
    this.#rules = rules.map((rule) => ({ rule, remaining: rule.times ?? Infinity }))
    this.#modeName = rules.length === 0 ? 'pass' : rules.map(describeRule).join(',')
    this.#down = undefined
    if (!this.#listening) {
      await listen(this.#server, this.port)
      this.#listening = true
    }
  }

  /** The current mode, e.g. `pass`, `down(refuse)`, `error(503)[CompleteMultipartUpload]`. */
  get mode (): string {
    return this.#down !== undefined || this.#rules.some((r) => r.remaining > 0) ? this.#modeName : 'pass'
  }

  stats (): ProxyStats {
    const s = this.#stats
    const byOperation: ProxyStats['byOperation'] = {}
    for (const [op, o] of Object.entries(s.byOperation)) byOperation[op as S3Operation] = { ...o, statuses: { ...o.statuses } }
    return { ...s, byOperation, mode: this.mode, stalled: this.#stalled.size }
  }

  resetStats (): void {
    this.#stats = emptyStats()
  }

  /** Drops the connections of stalled requests (their clients see a reset). */
  releaseStalled (): void {
    for (const s of this.#stalled) s.destroy()
    this.#stalled.clear()
  }

  /** Stops listening and drops every connection. Idempotent. */
  stop (): Promise<void> {
    this.#stopping ??= (async () => {
      for (const t of this.#timers) clearTimeout(t)
      this.#timers.clear()
      if (this.#listening) {
        this.#listening = false
        await new Promise<void>((resolve) => {
          this.#server.close(() => { resolve() })
          this.#dropAll()
        })
      } else {
        this.#dropAll()
      }
      this.#agent.destroy()
    })()
    return this.#stopping
  }

  #dropAll (): void {
    for (const s of this.#sockets) {
      this.#stats.droppedConnections++
      s.destroy()
    }
    this.#sockets.clear()
    this.#stalled.clear()
  }

  #match (op: S3Operation): FaultRule | undefined {
    for (const r of this.#rules) {
      if (r.remaining <= 0) continue
      if (r.rule.operations !== undefined && !r.rule.operations.includes(op)) continue
      r.remaining--
      return r.rule
    }
    return undefined
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    const op = classifyS3Request(req.method ?? 'GET', req.url ?? '/', req.headers)
    const stats = this.#opStats(op)
    stats.requests++
    this.#stats.requests++
    const attempt = /attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))
    if (attempt !== null && Number(attempt[1]) > 1) {
      stats.sdkRetries++
      this.#stats.sdkRetries++
    }
    res.once('finish', () => { stats.statuses[String(res.statusCode)] = (stats.statuses[String(res.statusCode)] ?? 0) + 1 })
    if (this.#down !== undefined) {
      this.#stats.droppedConnections++
      req.socket.destroy()
      return
    }
    const rule = this.#match(op)
    if (rule !== undefined && rule.mode !== 'pass') {
      stats.injected++
      this.#stats.injected++
    }
    switch (rule?.mode) {
      case undefined:
      case 'pass':
        this.#forward(req, res, {})
        return
      case 'slow':
        this.#forward(req, res, { delayMs: rule.delayMs ?? 0, bytesPerSecond: rule.bytesPerSecond })
        return
      case 'error': {
        const answer = (): void => { sendError(res, req, rule.status ?? 503, rule.code, rule.message) }
        if (rule.forward === true) this.#forward(req, res, { replace: answer })
        else drain(req, answer)
        return
      }
      case 'reset': {
        const drop = (): void => { req.socket.destroy() }
        if (rule.forward === true) this.#forward(req, res, { replace: drop })
        else drop()
        return
      }
      case 'stall':
        // Read the body (the client believes it was sent), then hold the connection open without an answer.
        this.#stalled.add(req.socket)
        req.resume()
    }
  }

  #forward (req: IncomingMessage, res: ServerResponse, how: { delayMs?: number, bytesPerSecond?: number | undefined, replace?: () => void }): void {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    }
    const upstream = httpRequest({
      host: this.#target.hostname,
      port: this.#target.port === '' ? 80 : Number(this.#target.port),
      method: req.method,
      path: req.url,
      headers,
      agent: this.#agent
    })
    let abandoned = false
    const failed = (): void => {
      if (abandoned) return
      this.#stats.upstreamErrors++
      // The client sees what it would see from an unreachable target: a dropped connection.
      req.socket.destroy()
    }
    upstream.on('error', failed)
    // The client went away (or was dropped): abandon the forwarded request too.
    res.once('close', () => {
      if (res.writableFinished || how.replace !== undefined) return
      abandoned = true;
      upstream.destroy()
    })
    pipeInto(req, upstream, how.bytesPerSecond)
    upstream.on('response', (answer: IncomingMessage) => {
      if (how.replace !== undefined) {
        // The request took effect upstream; the client gets the fault instead of its answer.
        drain(answer, how.replace)
        return
      }
      const respond = (): void => {
        if (res.destroyed) {
          answer.destroy()
          return
        }
        const out: Array<[string, string]> = []
        for (let i = 0; i + 1 < answer.rawHeaders.length; i += 2) {
          const name = answer.rawHeaders[i] as string
          if (!HOP_BY_HOP.has(name.toLowerCase())) out.push([name, answer.rawHeaders[i + 1] as string])
        }
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out.flat())
        pipeInto(answer, res, how.bytesPerSecond)
      }
      if ((how.delayMs ?? 0) > 0) this.#after(how.delayMs as number, respond)
      else respond()
    })
  }

  #after (ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      fn()
    }, ms)
    this.#timers.add(timer)
  }

  #opStats (op: S3Operation): OperationStats {
    let s = this.#stats.byOperation[op]
    if (s === undefined) {
      s = { requests: 0, injected: 0, sdkRetries: 0, statuses: {} }
      this.#stats.byOperation[op] = s
    }
    return s
  }
}

/** The S3 operation of a path-style request (`/bucket/key?query`). */
export function classifyS3Request (method: string, url: string, headers: IncomingHttpHeaders = {}): S3Operation {
  const u = new URL(url, 'http://s3.invalid')
  const q = u.searchParams
  const slash = u.pathname.indexOf('/', 1)
  const hasKey = slash !== -1 && slash < u.pathname.length - 1
  const copy = headers['x-amz-copy-source'] !== undefined
  if (u.pathname === '/' || u.pathname === '') return 'Other' // ListBuckets
  if (!hasKey) {
    switch (method) {
      case 'GET':
        if (q.has('uploads')) return 'ListMultipartUploads'
        if (q.get('list-type') === '2') return 'ListObjectsV2'
        return [...q.keys()].some((k) => !['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'].includes(k)) ? 'Other' : 'ListObjects'
      case 'HEAD': return 'HeadBucket'
      case 'PUT': return q.size === 0 ? 'CreateBucket' : 'Other'
      case 'DELETE': return q.size === 0 ? 'DeleteBucket' : 'Other'
      case 'POST': return q.has('delete') ? 'DeleteObjects' : 'Other'
      default: return 'Other'
    }
  }
  switch (method) {
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload'
      if (q.has('uploadId')) return 'CompleteMultipartUpload'
      return 'Other'
    case 'PUT':
      if (q.has('uploadId') && q.has('partNumber')) return copy ? 'Other' : 'UploadPart'
      if (copy) return 'CopyObject'
      return q.size === 0 || q.has('x-id') ? 'PutObject' : 'Other'
    case 'GET':
      if (q.has('uploadId')) return 'ListParts'
      return 'GetObject'
    case 'HEAD': return 'HeadObject'
    case 'DELETE': return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject'
    default: return 'Other'
  }
}

function describeRule (r: FaultRule): string {
  const what = r.mode === 'error' ? `error(${r.status ?? 503}${r.forward === true ? ',forwarded' : ''})`
    : r.mode === 'slow' ? `slow(${r.delayMs ?? 0}ms${r.bytesPerSecond !== undefined ? `,${r.bytesPerSecond}B/s` : ''})`
      : r.mode === 'reset' && r.forward === true ? 'reset(forwarded)' : r.mode
  return `${what}${r.operations !== undefined ? `[${r.operations.join('|')}]` : ''}${r.times !== undefined ? `x${r.times}` : ''}`
}

function emptyStats (): Omit<ProxyStats, 'mode' | 'stalled'> {
  return { requests: 0, injected: 0, sdkRetries: 0, byOperation: {}, droppedConnections: 0, upstreamErrors: 0 }
}

function listen (server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    server.once('error', onError)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError)
      resolve()
    })
  })
}

/** Reads and discards a body, then calls `then` (a failed stream is simply dropped). */
function drain (stream: Readable, then: () => void): void {
  stream.once('end', then)
  stream.resume()
}

/** Streams `from` into `to`, throttled to `bytesPerSecond` when given; a failure destroys both ends. */
function pipeInto (from: Readable, to: Writable, bytesPerSecond: number | undefined): void {
  const done = (err?: Error | null): void => { if (err != null) to.destroy() }
  if (bytesPerSecond === undefined || bytesPerSecond <= 0) pipeline(from, to, done)
  else pipeline(from, throttle(bytesPerSecond), to, done)
}

/** Passes bytes on no faster than `bytesPerSecond` (in slices, so a 5 MiB chunk trickles too). */
function throttle (bytesPerSecond: number): Transform {
  const started = Date.now()
  const slice = Math.max(1024, Math.min(64 * 1024, Math.floor(bytesPerSecond / 10)))
  let passed = 0
  let timer: NodeJS.Timeout | undefined
  return new Transform({
    transform (chunk: Buffer, _enc, callback) {
      let offset = 0
      const next = (): void => {
        timer = undefined
        if (this.destroyed) return
        if (offset >= chunk.length) {
          callback()
          return
        }
        const part = chunk.subarray(offset, offset + slice)
        offset += part.length
        passed += part.length
        this.push(part)
        const wait = started + (passed / bytesPerSecond) * 1000 - Date.now()
        if (wait > 0) timer = setTimeout(next, wait)
        else next()
      }
      next()
    },
    destroy (err, callback) {
      if (timer !== undefined) clearTimeout(timer)
      callback(err)
    }
  })
}

function sendError (res: ServerResponse, req: IncomingMessage, status: number, code?: string, message?: string): void {
  if (res.destroyed || res.headersSent) return
  const [defCode, defMessage] = DEFAULT_CODES[status] ?? ['InternalError', 'We encountered an internal error. Please try again.']
  const requestId = randomBytes(8).toString('hex').toUpperCase()
  const resource = new URL(req.url ?? '/', 'http://s3.invalid').pathname
  const body = req.method === 'HEAD'
    ? ''
    : '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${xml(code ?? defCode)}</Code><Message>${xml(message ?? defMessage)}</Message>` +
      `<Resource>${xml(resource)}</Resource><RequestId>${requestId}</RequestId><HostId>s3-fault-proxy</HostId></Error>`
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
    'x-amz-id-2': 's3-fault-proxy'
  })
  res.end(body)
}

function xml (s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}
