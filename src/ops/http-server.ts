import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import type { Readiness } from './health.js'

export interface OpsServerOptions {
  host: string
  /** 0 picks a free port. */
  port: number
  registry: Registry
  readiness: () => Readiness
}

/**
 * The operations endpoints:
 *   GET /metrics  Prometheus text format
 *   GET /healthz  200 while the process answers (liveness)
 *   GET /readyz   200 or 503 with a JSON reason (see health.ts)
 */
export class OpsServer {
  readonly #server: Server
  readonly #options: OpsServerOptions

  private constructor (server: Server, options: OpsServerOptions) {
    this.#server = server
    this.#options = options
  }

  /** Listens; rejects (e.g. EADDRINUSE) when the address cannot be bound. */
  static async start (options: OpsServerOptions): Promise<OpsServer> {
    let ops: OpsServer | undefined
    const server = createServer((req, res) => { ops?.handle(req, res) })
    // A scrape must not keep the process alive or hold a connection forever.
    server.requestTimeout = 10_000
    server.headersTimeout = 10_000
    ops = new OpsServer(server, options)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.unref()
    return ops
  }

  get port (): number {
    return (this.#server.address() as AddressInfo).port
  }

  /** e.g. `http://127.0.0.1:9464` (IPv6 hosts in brackets). */
  get url (): string {
    const { address, port } = this.#server.address() as AddressInfo
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  }

  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    this.#server.closeAllConnections()
    await closed
  }

  handle (req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' })
      return
    }
    switch (path) {
      case '/metrics':
        this.#options.registry.metrics().then(
          (text) => { send(res, 200, this.#options.registry.contentType, text) },
          (err: unknown) => { send(res, 500, 'text/plain; charset=utf-8', `collecting metrics failed: ${String(err)}\n`) })
        return
      case '/healthz':
        send(res, 200, 'text/plain; charset=utf-8', 'ok\n')
        return
      case '/readyz': {
        const r = this.#options.readiness()
        send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify({ status: r.ready ? 'ready' : 'not ready', ...r }) + '\n')
        return
      }
      default:
        send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n')
    }
  }
}

function send (res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
