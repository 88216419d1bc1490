import { createServer } from 'node:net'
import type { ServiceProcess } from '../helpers/e2e.js'
import { waitFor } from '../helpers/e2e.js'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parses Prometheus text exposition format (what /metrics serves) into samples. */
export function parsePrometheusText (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1')
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return samples
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sum (samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0)
}

export function series (samples: Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name)
}

export async function scrape (base: string): Promise<Sample[]> {
  const res = await fetch(`${base}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return parsePrometheusText(await res.text())
}

/** The metrics server's address as the service logged it ("metrics server listening"). */
export async function metricsAddress (run: ServiceProcess, timeoutMs = 30_000): Promise<string> {
  let address: string | undefined
  await waitFor('the metrics server address in the log', timeoutMs, () => {
    const m = /"address":"(http:\/\/[^"]+)"[^\n]*"msg":"metrics server listening"/.exec(run.output())
    address = m?.[1]
    return address !== undefined
  }, 100)
  return address as string
}

/** A free TCP port on 127.0.0.1 (bound to port 0 and released). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolve(port) })
    })
  })
}
