import assert from 'node:assert/strict'
import { before, after, describe, test } from 'node:test'
import pino from 'pino'
import { ContainerClient } from '@azure/storage-blob'
import { applyEnvOverrides, validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'
import { AzureStore } from '../../src/sinks/azure-store.js'
import { decodeMetadata } from '../../src/sinks/layout.js'
import { ObjectSink } from '../../src/sinks/object-sink.js'
import type { UploadedPart } from '../../src/sinks/object-store.js'
import { Azurite } from '../../src/testing/azurite.js'
import type { EncodedBatch, PipelineItem } from '../../src/types.js'
import { Coordinator } from '../helpers/coordinator.js'

const logger = pino({ level: 'silent' })
let azurite: Azurite
let containers = 0

before(async () => { azurite = await Azurite.start() })
after(async () => { await azurite.stop() })

async function freshContainer (): Promise<ContainerClient> {
  const c = new ContainerClient(azurite.connectionString, `sediment-${++containers}`)
  await c.create()
  return c
}

async function freshStore (): Promise<AzureStore> {
  return new AzureStore({ container: await freshContainer() })
}

async function keys (store: AzureStore, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for await (const o of store.list(prefix)) out.push(o.key)
  return out
}

async function uploads (store: AzureStore, prefix = ''): Promise<Array<{ key: string, uploadId: string }>> {
  const out: Array<{ key: string, uploadId: string }> = []
  for await (const u of store.listUploads(prefix)) out.push(u)
  return out
}

describe('AzureStore against Azurite: the ObjectStore contract', () => {
  test('staged blocks are invisible and listed as an upload; Put Block List shows the object, parts in order', async () => {
    const store = await freshStore()
    const id = await store.createUpload('t/a.jsonl')
    const p2 = await store.uploadPart('t/a.jsonl', id, 2, Buffer.from('world\n'))
    const p1 = await store.uploadPart('t/a.jsonl', id, 1, Buffer.from('hello\n'))
    assert.deepEqual(await keys(store), [])
    assert.equal(await store.size('t/a.jsonl'), null)
    assert.equal(await store.get('t/a.jsonl'), null)
    assert.deepEqual(await uploads(store, 't/'), [{ key: 't/a.jsonl', uploadId: id }])
    assert.equal(await store.completeUpload('t/a.jsonl', id, [p2, p1]), 'completed')
    assert.equal((await store.get('t/a.jsonl'))?.toString(), 'hello\nworld\n')
    assert.equal(await store.size('t/a.jsonl'), 12)
    assert.deepEqual(await uploads(store, 't/'), [])
    // A retried completion (the answer was lost) reports no-such-upload; the object is unchanged.
    assert.equal(await store.completeUpload('t/a.jsonl', id, [p1, p2]), 'no-such-upload')
    assert.equal((await store.get('t/a.jsonl'))?.toString(), 'hello\nworld\n')
  })

  test('two writers of one key: the first to complete wins, the other gets no-such-upload, nothing is overwritten', async () => {
    const store = await freshStore()
    const a = await store.createUpload('t/k')
    const b = await store.createUpload('t/k')
    const pa = await store.uploadPart('t/k', a, 1, Buffer.from('from a'))
    const pb = await store.uploadPart('t/k', b, 1, Buffer.from('from b'))
    assert.deepEqual((await uploads(store, 't/')).map(u => u.uploadId).sort(), [a, b].sort())
    assert.equal(await store.completeUpload('t/k', b, [pb]), 'completed')
    assert.equal(await store.completeUpload('t/k', a, [pa]), 'no-such-upload')
    assert.equal((await store.get('t/k'))?.toString(), 'from b')
    // A small put never replaced by a completion either.
    await store.put('t/p', Buffer.from('put'))
    const c = await store.createUpload('t/p')
    const pc = await store.uploadPart('t/p', c, 1, Buffer.from('upload'))
    assert.equal(await store.completeUpload('t/p', c, [pc]), 'no-such-upload')
    assert.equal((await store.get('t/p'))?.toString(), 'put')
  })

  test('unknown upload, abort, parts of another upload; list with startAfter, delete', async () => {
    const store = await freshStore()
    const id = await store.createUpload('t/u')
    const part = await store.uploadPart('t/u', id, 1, Buffer.from('x'))
    await store.abortUpload('t/u', id)
    await store.abortUpload('t/nothing', 'feedfeedfeedfeed')
    assert.equal(await store.completeUpload('t/u', 'feedfeedfeedfeed', [{ partNumber: 1, etag: Buffer.from('feedfeedfeedfeed:00001').toString('base64') }]), 'no-such-upload')
    await assert.rejects(store.completeUpload('t/u', 'feedfeedfeedfeed', [part]), /not of upload/)
    for (const k of ['p/1', 'p/2', 'p/3']) await store.put(k, Buffer.from(k))
    assert.deepEqual(await keys(store, 'p/'), ['p/1', 'p/2', 'p/3'])
    const after1: string[] = []
    for await (const o of store.list('p/', 'p/1')) after1.push(o.key)
    assert.deepEqual(after1, ['p/2', 'p/3'])
    await store.delete('p/2')
    await store.delete('p/missing')
    assert.deepEqual(await keys(store, 'p/'), ['p/1', 'p/3'])
    assert.match(store.location, /^azure:\/\/devstoreaccount1\/sediment-\d+$/)
  })
})

// The commit protocol on Azure, at the sink level (same scenarios as test/sinks/commit-protocol.test.ts).


function batch (offsets: number[], dirOf: (o: number) => string, epoch = 1): EncodedBatch {
  const byDir = new Map<string, number[]>()
  for (const o of offsets) byDir.set(dirOf(o), [...(byDir.get(dirOf(o)) ?? []), o])
  return {
    kind: 'encoded',
    topic: 't',
    partition: 0,
    epoch,
    firstOffset: offsets[0] as number,
    nextOffset: (offsets.at(-1) as number) + 1,
    rawBytes: offsets.length * 10,
    groups: [...byDir].map(([dir, os]) => ({
      dir, extension: '.jsonl', firstOffset: os[0] as number, lastOffset: os.at(-1) as number, records: os.length, encodedBytes: os.length * 10,
      data: Buffer.from(os.map((o) => `{"o":${o}}\n`).join(''))
    }))
  }
}

async function write (sink: ObjectSink, items: PipelineItem[]): Promise<void> {
  for (const item of items) if (!sink.write(item)) await new Promise((resolve) => sink.once('drain', resolve))
}

const assign = (epoch: number, committedOffset: number | null = null, metadata: string | null = null): PipelineItem =>
  ({ kind: 'assignment', epoch, partitions: [{ topic: 't', partition: 0, committedOffset, metadata }] })

describe('the commit protocol on AzureStore', () => {
  test('a cut commits before any of its objects is visible, then shows them; intent removed, manifest written', async () => {
    const store = await freshStore()
    const coordinator = new Coordinator(async () => await keys(store, 't/'))
    const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 50, partSizeBytes: 5 * 1024 * 1024 })
    const hour = (o: number): string => `t/hr=${o < 3 ? 'a' : 'b'}`
    await write(sink, [assign(1), batch([0, 1, 2, 3, 4], hour), batch([5, 6, 7], hour)])
    await new Promise<void>((resolve) => sink.end(resolve))
    assert.deepEqual(coordinator.commits.map((c) => c.offset), [5, 8])
    assert.deepEqual(coordinator.commits[0]?.visibleAtCommit, [])
    assert.deepEqual(coordinator.commits[1]?.visibleAtCommit, ['t/hr=a/1_0_00000000000000000000.jsonl', 't/hr=b/1_0_00000000000000000003.jsonl'])
    assert.equal((await store.get('t/hr=b/1_0_00000000000000000005.jsonl'))?.toString(), '{"o":5}\n{"o":6}\n{"o":7}\n')
    const meta = decodeMetadata(coordinator.commits[1]?.metadata ?? null)
    assert.ok(meta !== null && (await store.get(meta.manifest)) !== null)
    assert.equal(await store.get(meta.intent), null)
  })

  test('a fenced writer never makes an object visible', async () => {
    const store = await freshStore()
    const coordinator = new Coordinator(async () => await keys(store, 't/'))
    const sink = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9 })
    await write(sink, [assign(1), batch([0, 1, 2], () => 't/x')])
    coordinator.fence = true
    await new Promise<void>((resolve) => sink.end(resolve))
    assert.deepEqual(coordinator.commits, [])
    assert.deepEqual(await keys(store, 't/'), [])
    assert.equal(sink.stats().fencedCuts, 1)
  })

  test('a new owner completes a cut its previous owner committed but did not complete', async () => {
    const container = await freshContainer()
    const store = new AzureStore({ container })
    const coordinator = new Coordinator(async () => await keys(store, 't/'))
    /** completeUpload never returns: the process "dies" between commit and completion. */
    class Stuck extends AzureStore {
      override async completeUpload (_k: string, _id: string, _p: UploadedPart[]): Promise<'completed' | 'no-such-upload'> { return await new Promise(() => {}) }
    }
    const stuck = new Stuck({ container })
    const first = new ObjectSink({ store: stuck, committer: coordinator, logger, maxFileBytes: 1 })
    await write(first, [assign(1), batch([0, 1, 2], (o) => `t/h${o % 2}`)])
    for (let i = 0; i < 300 && coordinator.commits.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(coordinator.commits.length, 1)
    first.destroy()
    assert.deepEqual(await keys(store, 't/'), [], 'committed but not yet visible')
    assert.equal((await uploads(store, 't/')).length, 2, 'its two uploads are staged')

    coordinator.epoch = 2
    const commit = coordinator.commits[0]
    const second = new ObjectSink({ store, committer: coordinator, logger, maxFileBytes: 1e9 })
    await write(second, [assign(2, commit?.offset ?? null, commit?.metadata ?? null), batch([3, 4], () => 't/h1', 2)])
    await new Promise<void>((resolve) => second.end(resolve))
    assert.deepEqual(await keys(store, 't/'), [
      't/h0/1_0_00000000000000000000.jsonl',
      't/h1/1_0_00000000000000000001.jsonl',
      't/h1/1_0_00000000000000000003.jsonl'
    ])
    assert.equal((await store.get('t/h1/1_0_00000000000000000001.jsonl'))?.toString(), '{"o":1}\n')
    assert.deepEqual(coordinator.commits.map((c) => c.offset), [3, 5])
    assert.equal(coordinator.commits[1]?.visibleAtCommit.length, 2)
  })
})

describe('sink.type azure configuration', () => {
  const base = { kafka: { brokers: ['b:1'], groupId: 'g', topics: ['t'] } }
  const cs = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net'
  test('a connection string with a container, or a container SAS URL; errors name the field and never echo the secret', () => {
    const ok = validateConfig({ ...base, sink: { type: 'azure', container: 'data-lake', connectionString: cs, prefix: 'raw' } }).sink
    assert.deepEqual({ type: ok.type, container: ok.container, connectionString: ok.connectionString, prefix: ok.prefix }, { type: 'azure', container: 'data-lake', connectionString: cs, prefix: 'raw' })
    const env = validateConfig(applyEnvOverrides({ ...base, sink: { type: 'azure', container: 'data-lake' } }, { SEDIMENT_SINK_AZURE_CONNECTION_STRING: cs })).sink
    assert.equal(env.connectionString, cs)
    const sas = validateConfig({ ...base, sink: { type: 'azure', containerUrl: 'https://acct.blob.core.windows.net/data-lake?sv=2024&sig=abc' } }).sink
    assert.equal(sas.containerUrl, 'https://acct.blob.core.windows.net/data-lake?sv=2024&sig=abc')
    const bad = (sink: Record<string, unknown>, path: string, message: RegExp): void => {
      assert.throws(() => validateConfig({ ...base, sink: { type: 'azure', ...sink } }), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.path, path, err.message)
        assert.match(err.message, message)
        assert.ok(!err.message.includes('c2VjcmV0') && !err.message.includes('sig=abc'))
        return true
      })
    }
    bad({ container: 'data-lake' }, 'sink', /exactly one of connectionString .* or containerUrl/)
    bad({ container: 'data-lake', connectionString: cs, containerUrl: 'https://a/b?sig=abc' }, 'sink', /exactly one/)
    bad({ connectionString: cs }, 'sink.container', /required/)
    bad({ container: 'Data_Lake', connectionString: cs }, 'sink.container', /Azure container name/)
    bad({ container: 'data-lake', connectionString: 'AccountKey=c2VjcmV0' }, 'sink.connectionString', /not an Azure Storage connection string/)
    bad({ containerUrl: 'http://acct.blob.core.windows.net/c?sig=abc' }, 'sink.containerUrl', /https/)
    bad({ container: 'x-y', containerUrl: 'https://acct.blob.core.windows.net/c?sig=abc' }, 'sink.container', /not with containerUrl/)
    bad({ container: 'data-lake', connectionString: cs, bucket: 'b' }, 'sink.bucket', /not allowed when sink.type is "azure"/)
    assert.throws(() => validateConfig({ ...base, sink: { type: 's3', bucket: 'bbb', container: 'x' } }), /sink\.container: not allowed when sink\.type is "s3"/)
  })
})
