import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { test, type TestContext } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { restore } from '../../src/restore/restore.js'
import { restoreUnits, selectObjects, type SourceObject } from '../../src/restore/select.js'
import { FileStore } from '../../src/sinks/file-store.js'
import { dataKey, manifestKey, type CutRecord } from '../../src/sinks/layout.js'
import { frameLines, wrappedJsonLines } from '../../src/stages/formats/jsonl.js'
import type { ParsedRecord } from '../../src/types.js'

const PREFIX = 'arch'

/**
 * An archive as the sink lays it out: partition p, hours 07..09, 100 records per object at offsets
 * hourIndex*100.., one manifest per object (a cut of one file).
 */
async function archive (t: TestContext, wrap: boolean): Promise<{ store: FileStore, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-restore-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = new FileStore({ directory: dir })
  for (const partition of [1, 0]) {
    for (const [h, hour] of ['07', '08', '09'].entries()) {
      const offsets = Array.from({ length: 100 }, (_, i) => h * 100 + i)
      const values = offsets.map((o) => Buffer.from(JSON.stringify({ o, p: partition })))
      const records: ParsedRecord[] = offsets.map((offset, i) => ({ offset, value: values[i] as Buffer, timestampMs: 0, kafka: { offset, key: null, value: values[i] as Buffer, timestamp: offset, headers: {} } }))
      const group = { dir: `ev/dt=2026-11-20/hr=${hour}`, errors: false, offsets, values, records }
      const body = gzipSync(wrap ? wrappedJsonLines.encode(group, partition).data : frameLines(values))
      const key = dataKey(PREFIX, group.dir, 0, partition, offsets[0] as number, '.jsonl.gz')
      await store.put(key, body)
      const cut: CutRecord = {
        version: 1, topic: 'ev', partition, generation: 0, startOffset: h * 100, endOffset: h * 100 + 100, writerId: 'w', maxEventTime: null, createdAt: '',
        files: [{ key, uploadId: '', parts: [], firstOffset: h * 100, lastOffset: h * 100 + 99, records: 100, bytes: body.length, encodedBytes: 0, sha256: '' }]
      }
      await store.put(manifestKey(PREFIX, 'ev', partition, 0, h * 100, h * 100 + 100), Buffer.from(JSON.stringify(cut)))
    }
  }
  await store.put(`${PREFIX}/ev/dt=2026-11-20/hr=08/_SUCCESS`, Buffer.alloc(0))
  return { store, dir }
}

function config (dir: string, wrap: boolean) {
  return validateConfig({
    kafka: { brokers: ['127.0.0.1:1'], groupId: 'g', topics: ['ev'] },
    output: { format: 'jsonl', wrap },
    sink: { type: 'file', directory: dir, prefix: PREFIX }
  })
}

test('selection by time directories and by manifests, in partition and offset order; dry runs count', async (t) => {
  const { store, dir } = await archive(t, true)
  const all = await selectObjects(store, PREFIX, 'ev', 'dt={YYYY}-{MM}-{DD}/hr={HH}', { kind: 'time' })
  assert.deepEqual(all.map((o) => [o.partition, o.firstOffset]), [[0, 0], [0, 100], [0, 200], [1, 0], [1, 100], [1, 200]])

  const c = config(dir, true)
  const hour8 = await restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'time', from: '2026-11-20T08', to: '2026-11-20T09' }, dryRun: true })
  assert.deepEqual([hour8.objects, hour8.records], [2, 200])
  const day = await restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'time', from: '2026-11-20' }, dryRun: true })
  assert.deepEqual([day.objects, day.records], [6, 600])
  const none = await restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'time', to: '2026-11-20T07' }, dryRun: true })
  assert.deepEqual([none.objects, none.records], [0, 0])

  // offsets [150, 250) of partition 1: the objects at 100 and 200, and with wrap exactly 100 records
  const offsets = await restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'offsets', from: 150, to: 250, partitions: [1] }, dryRun: true })
  assert.deepEqual([offsets.objects, offsets.records], [2, 100])
})

test('restore units: objects of a partition that overlap in offsets are merged; last offsets come from the manifests', async (t) => {
  const o = (partition: number, firstOffset: number, lastOffset?: number): SourceObject => ({ key: `k${partition}-${firstOffset}`, partition, firstOffset, bytes: 1, ...(lastOffset !== undefined ? { lastOffset } : {}) })
  const units = restoreUnits([o(0, 0, 10), o(0, 3, 12), o(0, 12, 20), o(0, 21, 30), o(0, 40), o(0, 41), o(1, 5, 50), o(1, 6, 7)])
  assert.deepEqual(units.map((u) => u.map((x) => x.key)), [['k0-0', 'k0-3', 'k0-12'], ['k0-21'], ['k0-40'], ['k0-41'], ['k1-5', 'k1-6']])
  const { store } = await archive(t, true)
  const all = await selectObjects(store, PREFIX, 'ev', 'dt={YYYY}-{MM}-{DD}/hr={HH}', { kind: 'time', from: '2026-11-20T08' })
  assert.deepEqual(all.map((x) => [x.partition, x.firstOffset, x.lastOffset]), [[0, 100, 199], [0, 200, 299], [1, 100, 199], [1, 200, 299]])
})

test('an archive without Kafka metadata is refused unless values only are asked for', async (t) => {
  const { store, dir } = await archive(t, false)
  const c = config(dir, false)
  await assert.rejects(restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'time' }, dryRun: true }), /does not carry Kafka keys, headers or timestamps/)
  const values = await restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'time' }, dryRun: true, valuesOnly: true })
  assert.equal(values.records, 600)
  // without wrap the records' offsets are unknown: whole objects of the range
  const offsets = await restore({ config: c, store, sourceTopic: 'ev', range: { kind: 'offsets', from: 150, to: 250 }, dryRun: true, valuesOnly: true })
  assert.deepEqual([offsets.objects, offsets.records], [4, 400])
})
