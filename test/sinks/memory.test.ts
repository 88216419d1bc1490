import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url).pathname

async function peakFor (files: number): Promise<{ openFiles: number, peakRss: number, committed: number, commits: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-mem-'))
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/open-files-memory.ts'), String(files), dir], { cwd: ROOT, maxBuffer: 1 << 20 })
    return JSON.parse(stdout.trim().split('\n').at(-1) as string)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

test('memory does not grow with the number of open files (same data over 30 vs 3,000 files)', { timeout: 180_000 }, async (t) => {
  // RSS peaks depend on GC timing on a shared machine: take each case's lower peak of two runs (same bound).
  const lower = async (files: number): Promise<Awaited<ReturnType<typeof peakFor>>> => {
    const [a, b] = [await peakFor(files), await peakFor(files)]
    return a.peakRss <= b.peakRss ? a : b
  }
  const few = await lower(30)
  const many = await lower(3000)
  const mb = (n: number): string => (n / 1024 / 1024).toFixed(1)
  t.diagnostic(`30 files: peak RSS ${mb(few.peakRss)} MB (${few.openFiles} open, ${few.commits} cuts); 3,000 files: peak RSS ${mb(many.peakRss)} MB (${many.openFiles} open, ${many.commits} cuts)`)
  assert.equal(few.committed, 2_400_000)
  assert.equal(many.committed, 2_400_000)
  // 120 MiB went through a 32 MiB buffer budget in both cases: the budget, not the data or the number of open
  // files, bounds the buffered bytes. What grows with open files is bookkeeping (upload state, hashes, manifest
  // entries, mostly at a cut): it must stay a small constant per file (< 20 KiB), nothing like a per-file buffer.
  assert.ok(few.peakRss < 200 * 1024 * 1024, `30 files: ${mb(few.peakRss)} MB`)
  assert.ok(many.peakRss - few.peakRss < 3000 * 20 * 1024, `3,000 files cost ${mb(many.peakRss - few.peakRss)} MB more`)
})
