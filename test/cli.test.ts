import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { main } from '../src/cli.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin', 'sediment.js')

/** The environment without SEDIMENT_* variables, so the developer's shell cannot change the outcome. */
function cleanEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SEDIMENT_')))
  return { ...env, ...extra }
}

interface Result { code: number | null, stdout: string, stderr: string }

function sediment (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise(resolve => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv(env), timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr })
    })
  })
}

/** Runs main() in-process with captured output. */
async function inProcess (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const capture = (): { stream: PassThrough, text: () => string } => {
    const stream = new PassThrough()
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    return { stream, text: () => Buffer.concat(chunks).toString() }
  }
  const stdout = capture()
  const stderr = capture()
  const code = await main(args, env, { stdout: stdout.stream, stderr: stderr.stream })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

const validYaml = `
kafka:
  brokers: [localhost:9092]
  groupId: archive
  topics: [events]
sink:
  bucket: my-bucket
  credentials:
    accessKeyId: AKIAEXAMPLE
    secretAccessKey: super-secret-value
`

let dir: string
let validFile: string
let badFile: string
let typoFile: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sediment-cli-'))
  validFile = join(dir, 'valid.yaml')
  badFile = join(dir, 'bad.yaml')
  typoFile = join(dir, 'typo.yaml')
  await writeFile(validFile, validYaml)
  await writeFile(badFile, validYaml.replace('groupId: archive', 'groupId: archive\n  sessionTimeoutMs: abc'))
  await writeFile(typoFile, validYaml.replace('topics:', 'topic:'))
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('sediment (spawned)', () => {
  test('validate with a bad file exits 2 and names the field', async () => {
    const { code, stdout, stderr } = await sediment(['validate', '--config', badFile])
    assert.equal(code, 2)
    assert.equal(stdout, '')
    assert.match(stderr, /kafka\.sessionTimeoutMs: must be an integer >= 1000, got "abc"/)
  })

  test('validate with a typo exits 2 and names the unknown key', async () => {
    const { code, stderr } = await sediment(['validate', '-c', typoFile])
    assert.equal(code, 2)
    assert.match(stderr, /kafka\.topic: unknown key \(did you mean "topics"\?\)/)
  })

  test('validate with a valid file exits 0 and never prints secrets', async () => {
    const { code, stdout, stderr } = await sediment(['validate', '--config', validFile])
    assert.equal(code, 0, stderr)
    assert.match(stdout, /^config OK/)
    assert.match(stdout, /s3:\/\/my-bucket\//)
    assert.match(stdout, /static credentials \(redacted\)/)
    assert.doesNotMatch(stdout, /super-secret-value|AKIAEXAMPLE/)
  })

  test('the example configs are valid', async () => {
    for (const file of ['examples/sediment.yaml', 'examples/sediment-file.yaml']) {
      const { code, stderr } = await sediment(['validate', '--config', file])
      assert.equal(code, 0, `${file}: ${stderr}`)
    }
  })

  test('env overrides apply, and a bad one is named', async () => {
    const ok = await sediment(['validate', '--config', validFile], { SEDIMENT_SINK_BUCKET: 'env-bucket' })
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /s3:\/\/env-bucket\//)

    const bad = await sediment(['validate', '--config', validFile], { SEDIMENT_KAFKA_BROKERS: 'no-port' })
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /kafka\.brokers\[0\]: .*\(set by SEDIMENT_KAFKA_BROKERS\)/)
  })

  test('--help exits 0 and lists the commands', async () => {
    const { code, stdout } = await sediment(['--help'])
    assert.equal(code, 0)
    assert.match(stdout, /^\s+run\s/m)
    assert.match(stdout, /^\s+validate\s/m)
    assert.match(stdout, /--config FILE/)
    assert.match(stdout, /SEDIMENT_KAFKA_BROKERS/)
  })

  test('an unknown command exits 2', async () => {
    const { code, stdout, stderr } = await sediment(['frobnicate'])
    assert.equal(code, 2)
    assert.equal(stdout, '')
    assert.match(stderr, /unknown command "frobnicate"/)
  })

  test('a missing config file exits 2 with a clear message', async () => {
    const missing = join(dir, 'missing.yaml')
    const { code, stderr } = await sediment(['validate', '--config', missing])
    assert.equal(code, 2)
    assert.match(stderr, new RegExp(`cannot read config file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such file`))
  })

  test('run with an invalid config exits 2 before starting anything', async () => {
    const { code, stdout, stderr } = await sediment(['run', '--config', badFile])
    assert.equal(code, 2)
    assert.equal(stdout, '')
    assert.match(stderr, /kafka\.sessionTimeoutMs/)
  })

  test('run --pretty (or log.pretty) logs readable lines, not JSON; JSON stays the default', { timeout: 60_000 }, async () => {
    const config = join(dir, 'nowhere.json')
    await writeFile(config, JSON.stringify({ kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] }, sink: { type: 'file', directory: join(dir, 'out') }, metrics: { port: 0 }, log: { progressSeconds: 1 } }))
    const prettyConfig = join(dir, 'nowhere-pretty.json')
    await writeFile(prettyConfig, JSON.stringify({ kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] }, sink: { type: 'file', directory: join(dir, 'out') }, metrics: { port: 0 }, log: { pretty: true, progressSeconds: 1 } }))
    const runFor = (args: string[]): Promise<string> => new Promise(resolve => {
      let out = ''
      const child = execFile(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv() }, () => { resolve(out) })
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString()
        if (/progress: \d/.test(out) && child.exitCode === null && !child.killed) child.kill('SIGTERM')
      })
    })
    const [flag, fromConfig, json] = await Promise.all([runFor(['run', '--pretty', '--config', config]), runFor(['run', '--config', prettyConfig]), runFor(['run', '--config', config])])
    for (const out of [flag, fromConfig]) {
      const lines = out.trim().split('\n')
      assert.ok(lines.length >= 3, out)
      for (const line of lines) assert.throws(() => JSON.parse(line), `not JSON: ${line}`)
      assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} INFO  sediment starting {2}version=\S+ config=\{/m)
      assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} INFO  progress: 0 records\/s/m)
    }
    for (const line of json.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line)
  })

  test('--version prints the package version', async () => {
    const { code, stdout } = await sediment(['--version'])
    assert.equal(code, 0)
    assert.match(stdout, /^\d+\.\d+\.\d+/)
  })
})

describe('main (in-process)', () => {
  test('help and --help print usage', async () => {
    for (const args of [['help'], ['--help'], ['-h'], ['validate', '--help']]) {
      const { code, stdout, stderr } = await inProcess(args)
      assert.equal(code, 0, args.join(' '))
      assert.match(stdout, /Usage: sediment <command>/)
      assert.equal(stderr, '')
    }
  })

  test('usage errors exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /missing command/],
      [['validate'], /--config FILE is required/],
      [['run'], /--config FILE is required/],
      [['validate', '--confg', 'x'], /unknown option "--confg"/],
      [['validate', '-c', 'x', 'extra'], /unexpected argument "extra"/],
      [['nope'], /unknown command "nope"/]
    ]
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await inProcess(args)
      assert.equal(code, 2, args.join(' '))
      assert.equal(stdout, '')
      assert.match(stderr, message)
    }
  })

  test('validate reports the effective config', async () => {
    const { code, stdout } = await inProcess(['validate', '--config', validFile], { SEDIMENT_LOG_LEVEL: 'debug' })
    assert.equal(code, 0)
    assert.match(stdout, /log level:\s+debug/)
    assert.match(stdout, /partition:\s+dt=\{YYYY\}-\{MM\}-\{DD\}\/hr=\{HH\} \(UTC\)/)
    assert.doesNotMatch(stdout, /super-secret-value/)
  })

  test('verify: usage and config errors exit 2; its options belong to verify only', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['verify'], /verify: --config FILE is required/],
      [['verify', '-c', validFile, '--topic', ''], /--topic needs a topic name/],
      [['validate', '-c', validFile, '--json'], /validate: --json is an option of verify/],
      [['run', '-c', validFile, '--no-checksums'], /run: --no-checksums is an option of verify/],
      [['verify', '-c', badFile], /invalid configuration: kafka\.sessionTimeoutMs/]
    ]
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await inProcess(args)
      assert.equal(code, 2, args.join(' '))
      assert.equal(stdout, '')
      assert.match(stderr, message)
    }
    assert.match((await inProcess(['--help'])).stdout, /^\s+verify\s.*\n(.*\n)*\s+--no-checksums/m)
  })

  test('config errors exit 2 with the path on stderr', async () => {
    const { code, stderr } = await inProcess(['validate', '--config', badFile])
    assert.equal(code, 2)
    assert.match(stderr, /^sediment: invalid configuration: kafka\.sessionTimeoutMs: /)
  })
})
