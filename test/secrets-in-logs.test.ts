import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// Every option of the config that can carry a secret gets a distinct marker; `validate`, `run` (which logs the
// whole config at start, then fails to reach anything) and `finalize` must print none of them, in any log line or
// message.
// Nothing listens on 127.0.0.1:1, so every connection fails fast and the error paths are logged too.

const root = fileURLToPath(new URL('..', import.meta.url))
const nowhere = '127.0.0.1:1'

/** Marker per secret-bearing option; each must never appear in the output. */
const secrets = {
  sasl: 'S3cret-sasl-password',
  s3Key: 'S3cret-s3-secret-access-key',
  s3Token: 'S3cret-s3-session-token',
  s3EndpointUserinfo: 'S3cret-s3-endpoint-password',
  registry: 'S3cret-registry-password',
  overrideRegistry: 'S3cret-override-registry-password',
  opentsdb: 'S3cret-opentsdb-password',
  glueEndpoint: 'S3cret-glue-endpoint-password',
  locationPrefix: 'S3cret-s3a-location-secret-key',
  hiveJdbc: 'S3cret-hive-jdbc-password',
  hiveFlag: 'S3cret-hive-p-flag',
  quboleUrl: 'S3cret-qubole-url-password',
  quboleToken: 'S3cret-qubole-token-from-env',
  envSecretKey: 'S3cret-env-secret-access-key'
}

function baseConfig (): Record<string, unknown> {
  return {
    kafka: {
      brokers: [nowhere],
      groupId: 'secrets',
      topics: ['t'],
      sasl: { mechanism: 'plain', username: 'kafka-user', password: secrets.sasl },
      // The nowhere broker speaks no TLS; SASL in clear text must be allowed explicitly.
      allowInsecureSasl: true,
      connectionTimeoutMs: 500
    },
    parser: { type: 'avro', timestampField: 'ts', avro: { registryUrl: `http://reg-user:${secrets.registry}@${nowhere}/` } },
    topicOverrides: [{ topics: ['other'], parser: { type: 'avro', timestampField: 'ts', avro: { registryUrl: `https://reg-user:${secrets.overrideRegistry}@${nowhere}/` } } }],
    sink: {
      type: 's3',
      bucket: 'bucket',
      endpoint: `http://s3-user:${secrets.s3EndpointUserinfo}@${nowhere}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secrets.s3Key, sessionToken: secrets.s3Token }
    },
    metrics: { port: 0, opentsdb: { url: `http://${nowhere}`, username: 'tsdb', password: secrets.opentsdb, intervalSeconds: 1 } },
    log: { level: 'debug', progressSeconds: 1 }
  }
}

const catalogs: Array<[string, Record<string, unknown>]> = [
  ['glue', { type: 'glue', locationPrefix: `s3a://AKIDLOCATION:${secrets.locationPrefix}@bucket/base`, glue: { region: 'us-east-1', endpoint: `http://glue-user:${secrets.glueEndpoint}@${nowhere}` } }],
  ['hive', { type: 'hive', hive: { command: ['beeline', '-u', `jdbc:hive2://${nowhere}/default;user=u;password=${secrets.hiveJdbc}`, '-n', 'u', '-p', secrets.hiveFlag] } }],
  ['qubole', { type: 'qubole', qubole: { url: `https://q-user:${secrets.quboleUrl}@${nowhere}` } }]
]

interface Result { code: number | null, output: string }

/** Runs the CLI; `run` is stopped with SIGTERM once `until` matches its output (or after the timeout). */
async function cli (args: string[], env: Record<string, string>, until?: RegExp): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SEDIMENT_') && !name.startsWith('AWS_')))
  const child = spawn(process.execPath, [join(root, 'bin', 'sediment.js'), ...args], { cwd: root, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr.on('data', (c: Buffer) => { output += c.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  if (until !== undefined) {
    for (let waited = 0; waited < 20_000 && !until.test(output) && child.exitCode === null; waited += 100) await sleep(100)
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const code = await exited
    clearTimeout(timer)
    return { code, output }
  }
  return { code: await exited, output }
}

test('no secret of any option reaches the output of validate, run or finalize (startup config line, retries, errors)', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-secrets-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const env = { QUBOLE_API_TOKEN: secrets.quboleToken }
  // The runs wait on connection retries, not on the CPU: side by side.
  const runs = catalogs.map(async ([name, catalog]) => {
    const file = join(dir, `${name}.json`)
    await writeFile(file, JSON.stringify({ ...baseConfig(), finalizer: { inRun: true, catalog } }, null, 2))
    const validated = await cli(['validate', '--config', file], env)
    assert.equal(validated.code, 0, validated.output)
    // The startup line, then the Kafka client's own errors and our retry line.
    const ran = await cli(['run', '--config', file], env, /cannot reach Kafka, retrying/)
    assert.match(ran.output, /"msg":"sediment starting"/, ran.output.slice(0, 2000))
    assert.match(ran.output, /cannot reach Kafka, retrying/)
    // finalize: its own logger and report (it fails here: Kafka is unreachable)
    const finalized = await cli(['finalize', '--config', file], env)
    assert.equal(finalized.code, 1, finalized.output)
    return `${validated.output}\n${ran.output}\n${finalized.output}`
  })
  // The environment's credentials instead of the file's.
  runs.push((async () => {
    const envFile = join(dir, 'env.json')
    const { sink, ...rest } = baseConfig()
    await writeFile(envFile, JSON.stringify({ ...rest, sink: { ...(sink as object), credentials: undefined } }))
    return (await cli(['run', '--config', envFile], { SEDIMENT_SINK_ACCESS_KEY_ID: 'AKIDENV', SEDIMENT_SINK_SECRET_ACCESS_KEY: secrets.envSecretKey }, /cannot reach Kafka, retrying/)).output
  })())
  const outputs = await Promise.all(runs)

  const all = outputs.join('\n')
  const leaked = Object.entries(secrets).filter(([, secret]) => all.includes(secret))
  assert.deepEqual(leaked, [], `secrets in the output:\n${leaked.map(([name, s]) => `${name}: ${all.split('\n').find(l => l.includes(s)) ?? ''}`).join('\n')}`)
  // The test saw the options it is about: the startup line printed the config, with the places of the secrets.
  for (const shown of ['kafka-user', `http://[redacted]@${nowhere}/`, 'static credentials (redacted)', 'beeline', '"-p","[redacted]"']) assert.ok(all.includes(shown), `output shows ${shown}`)
})
