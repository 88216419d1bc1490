/**
 * Micro-benchmark of the S3 client's own cost per request (issue 11, item 3): the AWS SDK v3 as S3Store configures
 * it, against the local S3 server (s3rver), under several client settings side by side in one process.
 *
 *   npm run bench:s3 [-- --rounds N --parts N]
 *
 * For each setting and request kind it reports the client's CPU per request (process CPU, all threads: the SDK
 * works on the main thread, nothing else runs here) and the S3 server's CPU per request (its own process). Each
 * setting runs `rounds` times in rotating order and the least disturbed (lowest CPU) round is kept, since the
 * machine is shared. Also measured: the hashes the SDK applies to a part body (SigV4 payload SHA-256, CRC32 in
 * JavaScript as the SDK falls back to without zlib.crc32 (Node < 20.15 / < 22.2), and zlib.crc32).
 */
import { createHash } from 'node:crypto'
import * as zlib from 'node:zlib'
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand, type S3ClientConfig
} from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { S3TestServer } from '../src/testing/s3-server.js'
import { s3ClientConfig, type S3ChecksumMode } from '../src/sinks/s3-store.js'
import { processCpuSeconds } from './measure.js'

const BUCKET = 'sediment-s3-bench'

interface Setting {
  name: string
  checksum: S3ChecksumMode
  keepAlive: boolean
  maxSockets: number
}

const SETTINGS: Setting[] = [
  { name: 'default: checksums when supported, keep-alive, 50 sockets', checksum: 'when-supported', keepAlive: true, maxSockets: 50 },
  { name: 'checksums when required', checksum: 'when-required', keepAlive: true, maxSockets: 50 },
  { name: 'default checksums, no keep-alive', checksum: 'when-supported', keepAlive: false, maxSockets: 50 },
  { name: 'default checksums, keep-alive, 4 sockets', checksum: 'when-supported', keepAlive: true, maxSockets: 4 }
]

interface Kind {
  name: string
  /** Requests per run (each kind runs `count` requests, `concurrency` at a time). */
  count: number
  bytes: number
}

function cpuSelf (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

function client (endpoint: string, credentials: { accessKeyId: string, secretAccessKey: string }, s: Setting): S3Client {
  const config: S3ClientConfig = {
    ...s3ClientConfig({ bucket: BUCKET, endpoint, forcePathStyle: true, credentials, checksum: s.checksum }),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 10_000, socketTimeout: 30_000, httpAgent: { keepAlive: s.keepAlive, maxSockets: s.maxSockets } })
  }
  return new S3Client(config)
}

async function pool (n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++)
  }))
}

interface Measured { clientCpuMs: number, serverCpuMs: number, wallMs: number }

async function measure (s3: S3TestServer, n: number, fn: () => Promise<void>): Promise<Measured> {
  const c0 = cpuSelf()
  const s0 = processCpuSeconds(s3.pid as number) ?? 0
  const t0 = performance.now()
  await fn()
  const wallMs = performance.now() - t0
  return {
    clientCpuMs: ((cpuSelf() - c0) * 1000) / n,
    serverCpuMs: ((((processCpuSeconds(s3.pid as number) ?? 0) - s0) * 1000) / n),
    wallMs: wallMs / n
  }
}

async function runSetting (s3: S3TestServer, s: Setting, kinds: Kind[], round: number): Promise<Map<string, Measured>> {
  const c = client(s3.endpoint, s3.clientConfig.credentials, s)
  const out = new Map<string, Measured>()
  try {
    const prefix = `r${round}/${s.checksum}-${String(s.keepAlive)}-${s.maxSockets}`
    // warm up: connections, credentials, the SDK's lazy modules
    await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/warm`, Body: Buffer.alloc(10) }))
    for (const k of kinds) {
      const body = Buffer.alloc(k.bytes, 7)
      if (k.name.startsWith('PutObject')) {
        out.set(k.name, await measure(s3, k.count, async () => {
          await pool(k.count, 4, async (i) => await c.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/put-${k.bytes}-${i}`, Body: body })))
        }))
      } else if (k.name.startsWith('UploadPart')) {
        const up = await c.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${prefix}/mp-${k.bytes}` }))
        out.set(k.name, await measure(s3, k.count, async () => {
          await pool(k.count, 4, async (i) => await c.send(new UploadPartCommand({ Bucket: BUCKET, Key: `${prefix}/mp-${k.bytes}`, UploadId: up.UploadId, PartNumber: i + 1, Body: body, ContentLength: body.length })))
        }))
      } else {
        // a small file's life: create + one part + complete (3 requests)
        out.set(k.name, await measure(s3, k.count, async () => {
          await pool(k.count, 4, async (i) => {
            const key = `${prefix}/file-${i}`
            const up = await c.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))
            const part = await c.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: body, ContentLength: body.length }))
            await c.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
          })
        }))
      }
    }
  } finally {
    c.destroy()
  }
  return out
}

function hashes (): string[] {
  const body = Buffer.alloc(8 * 1024 * 1024, 7)
  const time = (fn: () => void): number => {
    fn()
    const t0 = performance.now()
    for (let i = 0; i < 5; i++) fn()
    return (performance.now() - t0) / 5
  }
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let j = 0; j < 8; j++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[i] = c >>> 0
  }
  // the SDK's CRC32 fallback (Crc32Js in @smithy/core/checksum), byte at a time
  const crcJs = (data: Uint8Array): number => {
    let crc = 0xffffffff
    for (let i = 0; i < data.length; i++) crc = (crc >>> 8) ^ (table[(crc ^ (data[i] as number)) & 0xff] as number)
    return (crc ^ 0xffffffff) >>> 0
  }
  const rows = [
    `SHA-256 (SigV4 payload hash of a Buffer body): ${time(() => createHash('sha256').update(body).digest()).toFixed(1)} ms per 8 MiB part`,
    `CRC32 in JavaScript (the SDK's fallback without zlib.crc32): ${time(() => crcJs(body)).toFixed(1)} ms per 8 MiB part`
  ]
  const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32
  rows.push(native === undefined
    ? `zlib.crc32: not in Node ${process.version} (the SDK computes CRC32 in JavaScript)`
    : `zlib.crc32 (native, Node ${process.version}; the SDK uses it when present): ${time(() => native(body)).toFixed(2)} ms per 8 MiB part`)
  return rows
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name)
    return i === -1 ? dflt : Number(args[i + 1])
  }
  const rounds = arg('--rounds', 3)
  const count = arg('--count', 200)
  const kinds: Kind[] = [
    { name: 'PutObject 1 KiB', count, bytes: 1024 },
    { name: 'UploadPart 64 KiB', count, bytes: 64 * 1024 },
    { name: 'UploadPart 8 MiB', count: Math.max(4, Math.round(count / 20)), bytes: 8 * 1024 * 1024 },
    { name: 'small file: create + 64 KiB part + complete', count: Math.round(count / 2), bytes: 64 * 1024 }
  ]
  const s3 = await S3TestServer.start({ buckets: [BUCKET] })
  const best = new Map<string, Map<string, Measured>>()
  try {
    for (let r = 0; r < rounds; r++) {
      // rotate the order so no setting always runs first (or right after a heavy one)
      const order = SETTINGS.map((_, i) => SETTINGS[(i + r) % SETTINGS.length] as Setting)
      for (const s of order) {
        const m = await runSetting(s3, s, kinds, r)
        const prev = best.get(s.name) ?? new Map<string, Measured>()
        for (const [k, v] of m) {
          const p = prev.get(k)
          if (p === undefined || v.clientCpuMs < p.clientCpuMs) prev.set(k, v)
        }
        best.set(s.name, prev)
        process.stderr.write(`round ${r + 1}/${rounds}: ${s.name} done\n`)
      }
    }
  } finally {
    await s3.stop()
  }
  const lines: string[] = []
  lines.push(`Node ${process.version}, @aws-sdk/client-s3 against s3rver on loopback; ${rounds} rounds, lowest client CPU kept; requests 4 at a time.`)
  lines.push('')
  lines.push('| setting | request | client CPU ms / request | × default | S3 server CPU ms / request | wall ms / request |')
  lines.push('| --- | --- | --: | --: | --: | --: |')
  const base = best.get(SETTINGS[0]?.name as string)
  for (const s of SETTINGS) {
    for (const k of kinds) {
      const m = best.get(s.name)?.get(k.name)
      const b = base?.get(k.name)
      if (m === undefined) continue
      lines.push(`| ${s.name} | ${k.name} | ${m.clientCpuMs.toFixed(2)} | ${b === undefined ? '—' : (m.clientCpuMs / b.clientCpuMs).toFixed(2)} | ${m.serverCpuMs.toFixed(2)} | ${m.wallMs.toFixed(2)} |`)
    }
  }
  lines.push('')
  for (const h of hashes()) lines.push(`- ${h}`)
  console.log(lines.join('\n'))
}

main().then(() => { process.exit(0) }, (err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err)
  process.exit(1)
})
