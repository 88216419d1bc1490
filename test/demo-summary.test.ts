import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { formatTable, summarizeOutput } from '../src/demo/summary.js'
import { FileStore } from '../src/sinks/file-store.js'

test('the demo\'s table: records, files, stored and raw bytes, compression per time partition, errors last', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-summary-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = new FileStore({ directory: dir })
  const lines = (n: number): Buffer => Buffer.from('{"ts":1,"msg":"hello hello hello hello"}\n'.repeat(n))
  await store.put('logs/weblogs/dt=2026-11-20/hr=06/1_0_00000000000000000000.jsonl.gz', gzipSync(lines(100)))
  await store.put('logs/weblogs/dt=2026-11-20/hr=06/1_1_00000000000000000000.jsonl.gz', gzipSync(lines(50)))
  await store.put('logs/_errors/weblogs/dt=2026-11-20/hr=06/1_0_00000000000000000007.jsonl.gz', gzipSync(lines(2)))
  await store.put('logs/weblogs/dt=2026-11-20/hr=07/1_0_00000000000000000100.jsonl', lines(3))
  await store.put('logs/_sediment/1/manifests/weblogs/0/x.json', Buffer.from('{}'))
  const rows = await summarizeOutput(store, 'logs/')
  await store.close()
  assert.deepEqual(rows.map(r => [r.dir, r.records, r.files, r.rawBytes]), [
    ['weblogs/dt=2026-11-20/hr=06', 150, 2, lines(150).length],
    ['weblogs/dt=2026-11-20/hr=07', 3, 1, lines(3).length],
    ['_errors/weblogs/dt=2026-11-20/hr=06', 2, 1, lines(2).length]
  ])
  const table = formatTable(rows).split('\n')
  assert.match(table[0] ?? '', /PARTITION +RECORDS +FILES +STORED +RAW +SMALLER/)
  assert.match(table.at(-1) ?? '', /^ {2}total +155 +4 +\d+ B +\d\.\d kB +\d+\.\dx$/)
  assert.equal(table.length, 2 + 3 + 2)
})
