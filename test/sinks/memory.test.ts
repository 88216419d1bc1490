import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url).pathname

interface Run { openFiles: number, maxOpenFiles: number, maxBuffered: number, peakRss: number, committed: number, commits: number, earlyCutsMemory: number, earlyCutsFiles: number, retainedHeap: number | null }

async function peakFor (files: number, extra: string[] = [], inspect?: (dir: string) => Promise<void>): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-mem-'))
  try {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', join(ROOT, 'test/fixtures/open-files-memory.ts'), String(files), dir, ...extra], { cwd: ROOT, maxBuffer: 1 << 20 })
    await inspect?.(dir)
    return JSON.parse(stdout.trim().split('\n').at(-1) as string)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Offsets in the visible `.jsonl` objects under dir (names starting with '_' or '.' are not visible). */
async function visibleOffsets (dir: string): Promise<number[]> {
  const offsets: number[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    if (!entry.isFile() || !entry.name.endsWith('.jsonl') || path.slice(dir.length).split('/').some((p) => p.startsWith('_') || p.startsWith('.'))) continue
    for (const line of (await readFile(path, 'utf8')).split('\n')) if (line !== '') offsets.push((JSON.parse(line) as { o: number }).o)
  }
  return offsets.sort((a, b) => a - b)
}

const FILE_OVERHEAD = 2048 // the sink's per-file charge (FILE_OVERHEAD_BYTES)

test('memory does not grow with the number of open files (same data over 30 vs 3,000 files)', { timeout: 180_000 }, async (t) => {
  // RSS peaks depend on GC timing on a shared machine: take each case's lower peak of two runs (same bound).
  // No open-file cap here (the default of 1000 would cut the 3,000 files early): this is about their memory.
  const lower = async (files: number): Promise<Awaited<ReturnType<typeof peakFor>>> => {
    const [a, b] = [await peakFor(files, ['spread', '1000000']), await peakFor(files, ['spread', '1000000'])]
    return a.peakRss <= b.peakRss ? a : b
  }
  const few = await lower(30)
  const many = await lower(3000)
  const mb = (n: number): string => (n / 1024 / 1024).toFixed(1)
  const perFile = ((many.retainedHeap ?? 0) - (few.retainedHeap ?? 0)) / (3000 - 30)
  t.diagnostic(`30 files: peak RSS ${mb(few.peakRss)} MB (${few.openFiles} open, ${few.commits} cuts); 3,000 files: peak RSS ${mb(many.peakRss)} MB (${many.openFiles} open, ${many.commits} cuts); retained per extra open file ${(perFile / 1024).toFixed(1)} KiB`)
  assert.equal(few.committed, 2_400_000)
  assert.equal(many.committed, 2_400_000)
  // 120 MiB went through a 32 MiB buffer budget in both cases: the budget, not the data or the number of open
  // files, bounds the buffered bytes. What grows with open files is bookkeeping (upload state, hashes, manifest
  // entries): it must stay a small constant per file (< 20 KiB), nothing like a per-file buffer. It is measured as
  // heap + Buffers retained after a full GC with every file open, less the budgeted buffered bytes; the difference of RSS peaks measured it before, but on
  // Node 22 the 30-file peak fell by ~45 MB while the 3,000-file peak stayed where it was on Node 20 (GC timing,
  // not bookkeeping), so that difference no longer isolated the per-file cost.
  assert.notEqual(many.retainedHeap, null)
  assert.ok(perFile < 20 * 1024, `each open file retains ${(perFile / 1024).toFixed(1)} KiB`)
  assert.ok(few.peakRss < 200 * 1024 * 1024, `30 files: ${mb(few.peakRss)} MB`)
  assert.ok(many.peakRss < 400 * 1024 * 1024, `3,000 files: ${mb(many.peakRss)} MB (target: 400 MB)`)
})

test('open files count toward maxBufferedBytes: 3,000 one-record files in a 1 MiB budget are cut ~500 at a time', { timeout: 120_000 }, async (t) => {
  // Almost no data (16 bytes a file): before per-file bookkeeping counted, the budget saw 48 KB and all 3,000
  // files stayed open (at ~1.5 KB each, 100k such files cost 148 MB while the budget counted 4.6 MB).
  let offsets: number[] = []
  const r = await peakFor(3000, ['tiny', '1000000000', '1'], async (dir) => { offsets = await visibleOffsets(dir) })
  t.diagnostic(`3,000 files, 1 MiB budget, no cap: at most ${r.maxOpenFiles} open, buffered peak ${r.maxBuffered} B, ${r.commits} cuts (${r.earlyCutsMemory} early for memory), peak RSS ${(r.peakRss / 1048576).toFixed(1)} MB`)
  assert.equal(r.committed, 3000)
  assert.deepEqual(offsets, Array.from({ length: 3000 }, (_, i) => i), 'every offset exactly once')
  assert.ok(r.earlyCutsMemory >= 4, `${r.earlyCutsMemory} memory cuts`)
  // The budget holds 512 files' bookkeeping; one batch (50 files) may cross it before the write waits.
  assert.ok(r.maxOpenFiles <= 1024 * 1024 / FILE_OVERHEAD + 50, `${r.maxOpenFiles} files open at once`)
})

test('maxOpenFilesPerPartition: reaching the cap cuts the partition early, every record still exactly once', { timeout: 120_000 }, async (t) => {
  let offsets: number[] = []
  const r = await peakFor(2000, ['tiny', '250', '32'], async (dir) => { offsets = await visibleOffsets(dir) })
  t.diagnostic(`2,000 files, cap 250: at most ${r.maxOpenFiles} open, ${r.commits} cuts (${r.earlyCutsFiles} early for the cap, ${r.earlyCutsMemory} for memory)`)
  assert.equal(r.committed, 2000)
  assert.deepEqual(offsets, Array.from({ length: 2000 }, (_, i) => i), 'every offset exactly once')
  assert.ok(r.maxOpenFiles <= 250, `${r.maxOpenFiles} files open at once`)
  assert.equal(r.earlyCutsFiles, 7) // 8 cuts of 250 files: 7 early, the last at the end of input
  assert.equal(r.earlyCutsMemory, 0)
})
