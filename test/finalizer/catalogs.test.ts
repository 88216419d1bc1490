/**
 * Each catalog target as the real client sends it: the Hive hook's command line, the HTTP requests of the real
 * @aws-sdk/client-glue and of the Qubole client, captured by a local HTTP server on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { CatalogError, GlueCatalog, HiveCatalog, createCatalog, type CatalogPartition } from '../../src/finalizer/catalogs/index.js'
import { createLogger } from '../../src/logger.js'

const logger = createLogger({ level: 'silent' })

const partition = (hr: string, table = 'weblogs'): CatalogPartition => ({
  topic: 'weblogs',
  dir: `dt=2026-11-20/hr=${hr}`,
  database: 'logs',
  table,
  values: [['dt', '2026-11-20'], ['hr', hr]],
  location: `s3://lake/raw/weblogs/dt=2026-11-20/hr=${hr}/`
})

interface Captured { method: string, url: string, headers: IncomingMessage['headers'], body: string }

/** A local HTTP server that records every request and answers with `answer`. */
async function httpServer (t: TestContext, answer: (req: Captured, res: ServerResponse) => void): Promise<{ url: string, requests: Captured[] }> {
  const requests: Captured[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const captured = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      requests.push(captured)
      answer(captured, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { await new Promise((resolve) => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

function json (res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type })
  res.end(JSON.stringify(body))
}

test('hive: the configured command runs with the ALTER TABLE statement in place of {sql}, or appended', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-hive-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const log = join(dir, 'argv.jsonl')
  const script = join(dir, 'fake-hive.cjs')
  await writeFile(script, `
    const fs = require('node:fs')
    const args = process.argv.slice(2)
    fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n')
    if (args.includes('--fail')) { process.stderr.write('FAILED: SemanticException [Error 10001]: Table not found logs.weblogs'); process.exit(3) }
  `)
  const argv = async (): Promise<string[][]> => (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[])

  const config = validateConfig({
    kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['weblogs'] },
    sink: { type: 's3', bucket: 'lake', prefix: 'raw' },
    finalizer: { catalog: { type: 'hive', database: 'logs', hive: { command: [process.execPath, script, '--hiveconf', 'x=1', '-e', '{sql}'] } } }
  })
  const hive = createCatalog(config, config.finalizer!, { logger })
  await hive.register([partition('07'), partition('08')])
  const expected = 'ALTER TABLE `logs`.`weblogs` ADD IF NOT EXISTS ' +
    "PARTITION (`dt`='2026-11-20', `hr`='07') LOCATION 's3://lake/raw/weblogs/dt=2026-11-20/hr=07/' " +
    "PARTITION (`dt`='2026-11-20', `hr`='08') LOCATION 's3://lake/raw/weblogs/dt=2026-11-20/hr=08/'"
  assert.deepEqual(await argv(), [['--hiveconf', 'x=1', '-e', expected]])

  // without {sql} the statement is the last argument; one command per table
  const appended = new HiveCatalog({ command: [process.execPath, script, '-e'], timeoutMs: 10_000, logger })
  await appended.register([partition('09'), partition('09', 'other')])
  const calls = await argv()
  assert.equal(calls.length, 3)
  assert.deepEqual(calls[1]?.slice(0, 1), ['-e'])
  assert.match(calls[1]?.[1] ?? '', /^ALTER TABLE `logs`\.`weblogs` ADD IF NOT EXISTS PARTITION \(`dt`='2026-11-20', `hr`='09'\)/)
  assert.match(calls[2]?.[1] ?? '', /^ALTER TABLE `logs`\.`other` ADD/)

  // a failing command is an error with its exit code and stderr, but not its arguments
  const failing = new HiveCatalog({ command: [process.execPath, script, '--fail', '--password=hunter2'], timeoutMs: 10_000, logger })
  await assert.rejects(failing.register([partition('10')]), (err: Error) => {
    assert.ok(err instanceof CatalogError)
    assert.match(err.message, /exited with code 3: FAILED: SemanticException/)
    assert.ok(!err.message.includes('hunter2'), 'arguments are not repeated in the error')
    return true
  })
  const missing = new HiveCatalog({ command: [join(dir, 'no-such-program')], timeoutMs: 10_000, logger })
  await assert.rejects(missing.register([partition('10')]), /could not be run \(ENOENT\)/)
})

test('glue: the real @aws-sdk/client-glue sends BatchCreatePartition with the values and the table\'s storage descriptor', async (t) => {
  const tableSd = {
    Columns: [{ Name: 'id', Type: 'string' }],
    Location: 's3://lake/raw/weblogs/',
    InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
    OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
    SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' }
  }
  let batchAnswer: unknown = { Errors: [] }
  const server = await httpServer(t, (req, res) => {
    const target = String(req.headers['x-amz-target'])
    if (target === 'AWSGlue.GetTable') {
      json(res, 200, { Table: { Name: 'weblogs', DatabaseName: 'logs', PartitionKeys: [{ Name: 'dt', Type: 'string' }, { Name: 'hr', Type: 'string' }], StorageDescriptor: tableSd } }, 'application/x-amz-json-1.1')
    } else if (target === 'AWSGlue.BatchCreatePartition') {
      json(res, 200, batchAnswer, 'application/x-amz-json-1.1')
    } else {
      json(res, 400, { __type: 'UnknownOperationException' }, 'application/x-amz-json-1.1')
    }
  })
  const config = validateConfig({
    kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['weblogs'] },
    sink: { type: 's3', bucket: 'lake', prefix: 'raw', region: 'eu-west-1' },
    finalizer: { catalog: { type: 'glue', database: 'logs', glue: { endpoint: server.url, catalogId: '123456789012' } } }
  })
  const glue = createCatalog(config, config.finalizer!, { logger, glueCredentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } })
  t.after(async () => { await glue.close() })
  await glue.register([partition('07'), partition('08')])

  const batch = server.requests.filter((r) => r.headers['x-amz-target'] === 'AWSGlue.BatchCreatePartition')
  assert.equal(batch.length, 1)
  const req = batch[0]!
  assert.equal(req.method, 'POST')
  assert.equal(req.headers['content-type'], 'application/x-amz-json-1.1')
  assert.match(String(req.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/glue\/aws4_request/)
  const body = JSON.parse(req.body) as Record<string, unknown>
  assert.deepEqual(body, {
    CatalogId: '123456789012',
    DatabaseName: 'logs',
    TableName: 'weblogs',
    PartitionInputList: ['07', '08'].map((hr) => ({
      Values: ['2026-11-20', hr],
      StorageDescriptor: { ...tableSd, Location: `s3://lake/raw/weblogs/dt=2026-11-20/hr=${hr}/` }
    }))
  })
  // the table is read once per process
  await glue.register([partition('09')])
  assert.equal(server.requests.filter((r) => r.headers['x-amz-target'] === 'AWSGlue.GetTable').length, 1)

  // a partition that already exists is fine; any other per-partition error is not
  batchAnswer = { Errors: [{ PartitionValues: ['2026-11-20', '07'], ErrorDetail: { ErrorCode: 'AlreadyExistsException', ErrorMessage: 'Partition already exists.' } }] }
  await glue.register([partition('07')])
  batchAnswer = { Errors: [{ PartitionValues: ['2026-11-20', '10'], ErrorDetail: { ErrorCode: 'InternalServiceException', ErrorMessage: 'boom' } }] }
  await assert.rejects(glue.register([partition('10')]), /glue: 1 partition\(s\) of logs\.weblogs not created, e\.g\. \[2026-11-20, 10\]: InternalServiceException boom/)

  // a table partitioned differently from the template is refused before anything is created
  const before = server.requests.length
  const other = new GlueCatalog({ region: 'eu-west-1', endpoint: server.url, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, logger })
  t.after(async () => { await other.close() })
  await assert.rejects(other.register([{ ...partition('07'), values: [['day', '2026-11-20'], ['hr', '07']] }]), /partitioned by \(dt, hr\), but the partition template gives \(day, hr\)/)
  assert.equal(server.requests.slice(before).filter((r) => r.headers['x-amz-target'] === 'AWSGlue.BatchCreatePartition').length, 0)
})

test('qubole: POST /api/v1.2/commands with X-AUTH-TOKEN and a HiveCommand, then polled until done', async (t) => {
  const statuses = ['running', 'done']
  const server = await httpServer(t, (req, res) => {
    if (req.method === 'POST' && req.url === '/api/v1.2/commands') json(res, 200, { id: 4711, status: 'waiting' })
    else if (req.method === 'GET' && req.url === '/api/v1.2/commands/4711') json(res, 200, { id: 4711, status: statuses.shift() ?? 'done' })
    else json(res, 404, { error: 'not found' })
  })
  const config = validateConfig({
    kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['weblogs'] },
    sink: { type: 's3', bucket: 'lake', prefix: 'raw' },
    finalizer: { catalog: { type: 'qubole', database: 'logs', qubole: { url: `${server.url}/`, tokenEnv: 'TEST_QUBOLE_TOKEN', pollSeconds: 1 } } }
  })
  assert.throws(() => createCatalog(config, config.finalizer!, { logger, env: {} }), /environment variable TEST_QUBOLE_TOKEN \(the Qubole API token\) is not set/)
  const qubole = createCatalog(config, config.finalizer!, { logger, env: { TEST_QUBOLE_TOKEN: 'tok-123' } })
  await qubole.register([partition('07')])

  assert.deepEqual(server.requests.map((r) => `${r.method} ${r.url}`), ['POST /api/v1.2/commands', 'GET /api/v1.2/commands/4711', 'GET /api/v1.2/commands/4711'])
  for (const r of server.requests) assert.equal(r.headers['x-auth-token'], 'tok-123')
  const post = server.requests[0]!
  assert.equal(post.headers['content-type'], 'application/json')
  assert.deepEqual(JSON.parse(post.body), {
    command_type: 'HiveCommand',
    query: "ALTER TABLE `logs`.`weblogs` ADD IF NOT EXISTS PARTITION (`dt`='2026-11-20', `hr`='07') LOCATION 's3://lake/raw/weblogs/dt=2026-11-20/hr=07/'"
  })

  // a command that ends in error is an error
  statuses.push('error')
  await assert.rejects(qubole.register([partition('08')]), /qubole: command 4711 ended with status error/)
})
