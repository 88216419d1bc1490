import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decompress } from 'zstd-napi'
import { ZstdWorker } from '../../../src/stages/formats/zstd-worker.js'
import { chunkCompressor } from '../../../src/stages/formats/codec.js'

test('zstd on the worker thread: concurrent chunks of every size come back as valid frames; the process can still exit', async () => {
  const worker = ZstdWorker.shared()
  const inputs = Array.from({ length: 40 }, (_, i) => Buffer.from(`{"n":${i},"pad":"${'x'.repeat(i * 997)}"}\n`.repeat(1 + i * 3)))
  const copies = inputs.map(b => Buffer.from(b)) // large inputs are handed over to the worker (detached)
  const outputs = await Promise.all(inputs.map(async (input, i) => await new Promise<Buffer>((resolve, reject) => {
    worker.compress(input, 1 + (i % 5), (err, out) => { if (err !== null) reject(err); else resolve(out) })
  })))
  outputs.forEach((out, i) => { assert.deepEqual(decompress(out), copies[i]) })
  assert.ok(inputs.some(b => b.length === 0), 'large inputs were transferred, not copied')
})

test('the stream codec on Node without node:zlib zstd is asynchronous (it runs beside parsing)', async () => {
  const c = chunkCompressor('zstd', 3)
  assert.equal(c.async, true)
  let sync = true
  const out = await new Promise<Buffer>((resolve, reject) => {
    c.compress(Buffer.from('a'.repeat(100_000)), (err, data) => { if (err !== null) reject(err); else resolve(data) })
    sync = false
  })
  assert.equal(sync, false)
  assert.equal(decompress(out).length, 100_000)
})
