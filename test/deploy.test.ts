import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
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
async function dockerCommand (): Promise<{ entrypoint: string[], cmd: string[], user: string | undefined, from: string }> {
  const text = await readFile(join(root, 'Dockerfile'), 'utf8')
  const finalStage = text.slice(text.lastIndexOf('\nFROM '))
  const json = (name: string): string[] => JSON.parse(new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(finalStage)?.[1] ?? '[]') as string[]
  return {
    entrypoint: json('ENTRYPOINT'),
    cmd: json('CMD'),
    user: /^USER (\S+)$/m.exec(finalStage)?.[1],
    from: (/^FROM (\S+)/m.exec(finalStage.trim())?.[1]) ?? ''
  }
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
