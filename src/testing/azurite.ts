import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { captureStderr, stderrTail, terminate } from './child.js'

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1'
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
const START_TIMEOUT_MS = 20_000

/**
 * Azurite (Microsoft's Azure Storage emulator, blob service only) in a child process on 127.0.0.1 and a free
 * port, data in memory, telemetry off.
 */
export class Azurite {
  readonly endpoint: string
  readonly connectionString: string
  readonly #child: ChildProcess

  private constructor (child: ChildProcess, port: number) {
    this.#child = child
    this.endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`
    this.connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${this.endpoint};`
  }

  static async start (): Promise<Azurite> {
    const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js')
    const child = spawn(process.execPath, [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--extentMemoryLimit', '256',
      '--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'], { stdio: ['ignore', 'pipe', 'pipe'] })
    captureStderr(child)
    const port = await new Promise<number>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => { fail(new Error('no "listens on" line in time')) }, START_TIMEOUT_MS)
      const fail = (err: Error): void => {
        clearTimeout(timer)
        child.kill('SIGKILL')
        reject(new Error(`azurite did not start: ${err.message}\n${stderrTail(child)}`))
      }
      child.once('exit', (code) => { fail(new Error(`exited with code ${String(code)}`)) })
      child.stdout?.setEncoding('utf8')
      child.stdout?.on('data', (chunk: string) => {
        out += chunk
        const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
        if (m !== null) {
          clearTimeout(timer)
          child.removeAllListeners('exit')
          resolve(Number(m[1]))
        }
      })
    })
    child.stdout?.resume()
    return new Azurite(child, port)
  }

  async stop (): Promise<void> {
    await terminate(this.#child, 3000)
  }
}
