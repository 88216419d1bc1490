import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'

// No Docker engine runs here, so the container is checked piece by piece: the image's entrypoint and arguments
// are run as they are written in the Dockerfile, against the config the Kubernetes manifests mount, with the
// environment the Deployment sets.

const root = fileURLToPath(new URL('..', import.meta.url))

function run (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SEDIMENT_') && !name.startsWith('AWS_')))
  return new Promise(resolve => {
    execFile(args[0] as string, args.slice(1), { cwd: root, env: { ...clean, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}

/** ENTRYPOINT and CMD of the Dockerfile's final stage, exec form. */
async function dockerCommand (): Promise<{ entrypoint: string[], cmd: string[], user: string | undefined, from: string, healthcheck: string[], text: string }> {
  const text = await readFile(join(root, 'Dockerfile'), 'utf8')
  const finalStage = text.slice(text.lastIndexOf('\nFROM '))
  const json = (name: string): string[] => JSON.parse(new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(finalStage)?.[1] ?? '[]') as string[]
  return {
    entrypoint: json('ENTRYPOINT'),
    cmd: json('CMD'),
    user: /^USER (\S+)$/m.exec(finalStage)?.[1],
    from: (/^FROM (\S+)/m.exec(finalStage.trim())?.[1]) ?? '',
    healthcheck: JSON.parse(/^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$/m.exec(finalStage)?.[1] ?? '[]') as string[],
    text
  }
}

async function manifest<T> (name: string): Promise<T> {
  return parse(await readFile(join(root, 'deploy/k8s', name), 'utf8')) as T
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

test('the container entrypoint validates the config the Kubernetes manifests mount, with the Deployment\'s environment', { timeout: 60_000 }, async (t) => {
  const docker = await dockerCommand()
  assert.match(docker.from, /^node:22-slim/, 'Node 22 slim runtime')
  assert.equal(docker.user, 'node', 'runs as the non-root user')
  assert.deepEqual(docker.entrypoint, ['node', 'bin/sediment.js'])
  const configIndex = docker.cmd.indexOf('--config')
  assert.equal(docker.cmd[0], 'run')
  const mountedAt = docker.cmd[configIndex + 1] as string

  const configMap = parse(await readFile(join(root, 'deploy/k8s/configmap.yaml'), 'utf8')) as { data: Record<string, string> }
  const deployment = parse(await readFile(join(root, 'deploy/k8s/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: Array<{ args: string[], env: Array<{ name: string, value?: string }>, volumeMounts: Array<{ mountPath: string }> }> } } }
  }
  const container = deployment.spec.template.spec.containers[0]
  assert.ok(container !== undefined)
  assert.deepEqual(container.args.slice(0, 2), ['run', '--config'])
  assert.equal(container.args[2], mountedAt, 'the Deployment passes the path the image expects')
  assert.ok(container.volumeMounts.some(m => mountedAt.startsWith(`${m.mountPath}/`)), 'the ConfigMap is mounted there')

  const dir = await mkdtemp(join(tmpdir(), 'sediment-deploy-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'sediment.yaml')
  await writeFile(file, configMap.data['sediment.yaml'] as string)
  const env = Object.fromEntries(container.env.filter(e => e.value !== undefined).map(e => [e.name, e.value as string]))
  const [node, ...entry] = docker.entrypoint
  assert.equal(node, 'node')
  const result = await run([process.execPath, ...entry, 'validate', '--config', file], env)
  assert.equal(result.code, 0, result.stderr)
  // The Deployment's broker list (an env override) wins over the file's.
  assert.match(result.stdout, /kafka-1\.kafka:9092/)
})

test('every example config validates', { timeout: 60_000 }, async () => {
  const files = (await readdir(join(root, 'examples'))).filter(f => f.endsWith('.yaml'))
  assert.ok(files.length >= 2)
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(join(root, 'examples', f), 'utf8'))) assert.deepEqual(doc.errors, [], f)
    const result = await run([process.execPath, 'bin/sediment.js', 'validate', '--config', join('examples', f)], {})
    assert.equal(result.code, 0, `${f}: ${result.stderr}`)
  }
})

test('the image builds without a native toolchain: no compiler packages, no install scripts', async () => {
  const text = (await dockerCommand()).text.split('\n').filter(l => !l.startsWith('#')).join('\n')
  assert.doesNotMatch(text, /apt-get|apk add|g\+\+|python3|build-essential/)
  for (const npm of text.match(/^RUN .*npm (ci|install|prune)\b.*$/gm) ?? []) assert.match(npm, /--ignore-scripts/, npm)
  // Nothing the image installs needs a compiler.
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const native = ['zlib-sync', 'zstd-napi'].filter(name => name in pkg.dependencies)
  assert.deepEqual(native, [], 'no native addons: the image installs with --ignore-scripts')
  // --ignore-scripts also skips "prepare" (patch-package): the image must apply the kafkajs patch itself.
  assert.match(text, /^COPY patches \.\/patches$/m)
  assert.match(text, /^RUN npx --no-install patch-package$/m)
})

test('the image\'s HEALTHCHECK passes against the entrypoint\'s /healthz and fails when nothing answers', { timeout: 60_000 }, async (t) => {
  const docker = await dockerCommand()
  assert.equal(docker.healthcheck[0], 'node')
  const port = await freePort()
  const check = docker.healthcheck.map(a => a.replace(':9464/', `:${port}/`))
  assert.notDeepEqual(check, docker.healthcheck, 'the check names port 9464')

  const dir = await mkdtemp(join(tmpdir(), 'sediment-health-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'sediment.json')
  // Kafka unreachable: liveness does not depend on it.
  await writeFile(file, JSON.stringify({ kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['t'] }, sink: { type: 'file', directory: dir }, metrics: { port } }))
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SEDIMENT_')))
  const [, ...entry] = docker.entrypoint
  const child = spawn(process.execPath, [...entry, 'run', '--config', file], { cwd: root, env: { ...clean, SEDIMENT_METRICS_HOST: '0.0.0.0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  for (let i = 0; i < 200 && !out.includes('metrics server listening'); i++) await new Promise(resolve => setTimeout(resolve, 100))
  assert.match(out, /metrics server listening/)
  const healthy = await run([process.execPath, ...check.slice(1)], {})
  assert.equal(healthy.code, 0, healthy.stderr)
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  const down = await run([process.execPath, ...check.slice(1)], {})
  assert.equal(down.code, 1)
})

test('Kubernetes: a pinned image, the IRSA service account, a PodDisruptionBudget and a ServiceMonitor that select the Deployment\'s pods', async () => {
  type Labels = Record<string, string>
  const deployment = await manifest<{ spec: { selector: { matchLabels: Labels }, template: { metadata: { labels: Labels }, spec: { serviceAccountName?: string, containers: Array<{ image: string, ports: Array<{ name: string }> }> } } } }>('deployment.yaml')
  const pod = deployment.spec.template
  const image = pod.spec.containers[0]?.image ?? ''
  const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version
  assert.match(image, /^[^:@]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$/)
  assert.ok(image.endsWith(`:${version}`) || image.includes('@sha256:'), `pinned to the release (${version}) or a digest: ${image}`)

  const account = await manifest<{ kind: string, metadata: { name: string, annotations: Record<string, string> } }>('serviceaccount.yaml')
  assert.equal(account.kind, 'ServiceAccount')
  assert.equal(pod.spec.serviceAccountName, account.metadata.name)
  assert.match(account.metadata.annotations['eks.amazonaws.com/role-arn'] ?? '', /^arn:aws:iam::\d{12}:role\//)

  const matches = (selector: Labels, labels: Labels): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v)
  const pdb = await manifest<{ kind: string, spec: { maxUnavailable?: number, minAvailable?: number, selector: { matchLabels: Labels } } }>('poddisruptionbudget.yaml')
  assert.equal(pdb.kind, 'PodDisruptionBudget')
  assert.ok(matches(pdb.spec.selector.matchLabels, pod.metadata.labels))
  assert.equal(pdb.spec.maxUnavailable, 1)

  const service = await manifest<{ metadata: { labels: Labels }, spec: { selector: Labels, ports: Array<{ name: string }> } }>('service.yaml')
  const monitor = await manifest<{ kind: string, spec: { selector: { matchLabels: Labels }, endpoints: Array<{ port: string, path: string }> } }>('servicemonitor.yaml')
  assert.equal(monitor.kind, 'ServiceMonitor')
  assert.ok(matches(monitor.spec.selector.matchLabels, service.metadata.labels), 'selects the metrics Service')
  assert.ok(matches(service.spec.selector, pod.metadata.labels), 'the Service selects the pods')
  for (const e of monitor.spec.endpoints) {
    assert.ok(service.spec.ports.some(p => p.name === e.port), `port ${e.port} exists on the Service`)
    assert.equal(e.path, '/metrics')
  }
})
