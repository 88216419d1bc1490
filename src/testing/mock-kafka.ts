import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hasExited, readFirstLine, stderrTail, terminate, unrefChild } from './child.js'

export interface MockKafkaOptions {
  /** Number of brokers, ids 1..N. Default 1. */
  brokers?: number
}

const HERE = dirname(fileURLToPath(import.meta.url))
/** The repository root: this file is <root>/src/testing/ (or <root>/dist/testing/ once built). */
const ROOT = resolve(HERE, '..', '..')
const SOURCE = [join(HERE, 'mock-cluster.c'), join(ROOT, 'src', 'testing', 'mock-cluster.c')].find((p) => existsSync(p))
const BINARY = join(ROOT, '.cache', 'mock-cluster')
const CC = process.env.CC ?? 'cc'
const CFLAGS = ['-O2', '-Wall']
const LIBS = ['-lrdkafka']
const START_TIMEOUT_MS = 10_000
const COMMAND_TIMEOUT_MS = 10_000

const live = new Set<MockKafka>()
let building: Promise<string> | undefined

/**
 * A librdkafka mock cluster (rdkafka_mock.h) in a child process, for tests and the demo. Kafka clients connect to
 * `bootstrap`; topics must be created with createTopic (the mock has no CreateTopics API). The helper program
 * (mock-cluster.c) is compiled on first use into <repo>/.cache/mock-cluster.
 *
 * Mock quirks (librdkafka 2.0.2): a consumer group's first join waits a fixed 3 s (the mock's
 * initial rebalance delay, not configurable in this version); a later rebalance waits sessionTimeout - 1 s.
 */
export class MockKafka {
  readonly bootstrap: string[]
  readonly #child: ChildProcess
  /** Replies not yet read, and readers waiting for one. */
  readonly #lines: string[] = []
  readonly #waiters: Array<(line: string | Error) => void> = []
  #queue: Promise<unknown> = Promise.resolve()
  #stopping: Promise<void> | undefined

  private constructor (child: ChildProcess, bootstrap: string[]) {
    this.#child = child
    this.bootstrap = bootstrap
    let buf = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      buf += chunk
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const waiter = this.#waiters.shift()
        if (waiter !== undefined) waiter(line)
        else this.#lines.push(line)
      }
    })
    child.stdout?.resume()
    child.once('exit', (code, signal) => {
      live.delete(this)
      const tail = stderrTail(child)
      const err = new Error(`mock cluster exited (${signal ?? `code ${String(code)}`})${tail === '' ? '' : `: ${tail}`}`)
      for (const w of this.#waiters.splice(0)) w(err)
    })
  }

  static async start (opts: MockKafkaOptions = {}): Promise<MockKafka> {
    const brokers = opts.brokers ?? 1
    if (!Number.isInteger(brokers) || brokers < 1 || brokers > 32) throw new Error(`brokers must be 1..32, got ${brokers}`)
    const binary = await buildMockCluster()
    // MOCK_CLUSTER_DEBUG=mock,protocol shows the cluster's librdkafka debug log on our stderr
    const debug = (process.env.MOCK_CLUSTER_DEBUG ?? '') !== ''
    const child = spawn(binary, [String(brokers)], { stdio: ['pipe', 'pipe', debug ? 'inherit' : 'pipe'] })
    try {
      const line = await readFirstLine(child, 'mock cluster', START_TIMEOUT_MS)
      const mock = new MockKafka(child, line.split(','))
      live.add(mock)
      unrefChild(child)
      return mock
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    }
  }

  get pid (): number | undefined {
    return this.#child.pid
  }

  createTopic (name: string, partitions: number, replication = 1): Promise<void> {
    return this.#command(`topic ${word(name)} ${int(partitions)} ${int(replication)}`)
  }

  /** Disconnects the broker (-1: all) and refuses new connections. Leadership does not move. */
  brokerDown (id: number): Promise<void> {
    return this.#command(`down ${int(id)}`)
  }

  brokerUp (id: number): Promise<void> {
    return this.#command(`up ${int(id)}`)
  }

  /** Delays the broker's (-1: all) responses by `ms`. */
  setRtt (id: number, ms: number): Promise<void> {
    return this.#command(`rtt ${int(id)} ${int(ms)}`)
  }

  /**
   * The next requests with this API key (0 Produce, 1 Fetch, 8 OffsetCommit, 9 OffsetFetch, 11 JoinGroup,
   * 12 Heartbeat, ...) fail with these Kafka error codes, one per request in order. -195 (local transport error)
   * makes the broker drop the connection instead.
   */
  pushRequestErrors (apiKey: number, ...codes: number[]): Promise<void> {
    if (codes.length === 0) throw new Error('pushRequestErrors needs at least one error code')
    return this.#command(`errors ${int(apiKey)} ${codes.map(int).join(' ')}`)
  }

  /** Drops errors pushed for this API key that did not fire yet. */
  clearRequestErrors (apiKey: number): Promise<void> {
    return this.#command(`clear ${int(apiKey)}`)
  }

  /** Moves a partition's leadership to `brokerId` (-1: no leader). */
  setPartitionLeader (topic: string, partition: number, brokerId: number): Promise<void> {
    return this.#command(`leader ${word(topic)} ${int(partition)} ${int(brokerId)}`)
  }

  /** Makes `brokerId` the coordinator of the consumer group. */
  setGroupCoordinator (groupId: string, brokerId: number): Promise<void> {
    return this.#command(`coordinator group ${word(groupId)} ${int(brokerId)}`)
  }

  /** Destroys the cluster and ends the process (SIGKILL if it does not end within 2 s). Idempotent. */
  stop (): Promise<void> {
    this.#stopping ??= terminate(this.#child, 2000, () => this.#child.stdin?.end('quit\n')).then(() => {
      live.delete(this)
    })
    return this.#stopping
  }

  /** @internal */
  killNow (): void {
    if (!hasExited(this.#child)) this.#child.kill('SIGKILL')
  }

  /** Commands run one at a time: each waits for the previous reply. */
  #command (line: string): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#stopping !== undefined || hasExited(this.#child)) throw new Error('mock cluster is stopped or has exited')
      const reply = this.#nextLine(line)
      this.#child.stdin?.write(`${line}\n`)
      const answer = await reply
      if (answer !== 'ok') throw new Error(`mock cluster: ${line}: ${answer.replace(/^err /, '')}`)
    }
    const p = this.#queue.then(run, run)
    this.#queue = p.catch(() => {})
    return p
  }

  #nextLine (line: string): Promise<string> {
    const ready = this.#lines.shift()
    if (ready !== undefined) return Promise.resolve(ready)
    return new Promise((resolve, reject) => {
      // also keeps the process alive while waiting: the child and its pipes are unref'd
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter)
        if (i !== -1) this.#waiters.splice(i, 1)
        reject(new Error(`mock cluster: no reply to "${line}" within ${COMMAND_TIMEOUT_MS} ms`))
      }, COMMAND_TIMEOUT_MS)
      const waiter = (r: string | Error): void => {
        clearTimeout(timer)
        if (r instanceof Error) reject(r)
        else resolve(r)
      }
      this.#waiters.push(waiter)
    })
  }
}

function int (n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`)
  return String(n)
}

function word (s: string): string {
  if (!/^[^\s]+$/.test(s)) throw new Error(`invalid name: ${JSON.stringify(s)}`)
  return s
}

/**
 * Compiles mock-cluster.c into <repo>/.cache/mock-cluster unless the binary there was built from the same source
 * and flags (recorded in mock-cluster.hash). Safe when several processes build at once: each compiles to its own
 * temp name and renames into place.
 */
export function buildMockCluster (): Promise<string> {
  building ??= build().catch((err: unknown) => {
    building = undefined
    throw err
  })
  return building
}

async function build (): Promise<string> {
  if (SOURCE === undefined) throw new Error(`mock-cluster.c not found next to ${HERE}`)
  const source = await readFile(SOURCE)
  const hash = createHash('sha256').update(source).update(JSON.stringify([CC, CFLAGS, LIBS])).digest('hex')
  const hashFile = `${BINARY}.hash`
  const built = await readFile(hashFile, 'utf8').catch(() => '')
  if (built.trim() === hash && existsSync(BINARY)) return BINARY

  await mkdir(dirname(BINARY), { recursive: true })
  const tmp = `${BINARY}.${process.pid}.${Date.now()}.tmp`
  try {
    await compile(SOURCE, tmp)
    await rename(tmp, BINARY)
    await writeFile(`${hashFile}.${process.pid}.tmp`, `${hash}\n`)
    await rename(`${hashFile}.${process.pid}.tmp`, hashFile)
  } finally {
    await rm(tmp, { force: true })
  }
  return BINARY
}

function compile (source: string, out: string): Promise<void> {
  const hint = 'install librdkafka-dev and a C compiler (apt-get install -y librdkafka-dev gcc)'
  return new Promise((resolve, reject) => {
    const cc = spawn(CC, [...CFLAGS, '-o', out, source, ...LIBS], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    cc.stdout.on('data', (c: Buffer) => { output += c.toString() })
    cc.stderr.on('data', (c: Buffer) => { output += c.toString() })
    cc.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'ENOENT' ? `C compiler "${CC}" not found: ${hint}` : `${CC}: ${err.message}`, { cause: err }))
    })
    cc.once('close', (code) => {
      if (code === 0) resolve()
      else if (/rdkafka(_mock)?\.h|-lrdkafka/.test(output)) reject(new Error(`librdkafka headers or library not found: ${hint}\n${output.trim()}`))
      else reject(new Error(`compiling ${source} failed (exit ${String(code)}):\n${output.trim()}`))
    })
  })
}

// Synchronous last resort for clusters never stopped (an 'exit' hook cannot await). The child also exits on
// stdin EOF, i.e. when this process dies in any other way.
process.once('exit', () => {
  for (const m of live) m.killNow()
})
