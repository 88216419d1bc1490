import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chunkCompressor, zstdSync } from '../../../src/stages/formats/codec.js'
import { zstdDecompressFrames } from '../../helpers/zstd.js'

test('the zstd stream codec is asynchronous (node:zlib runs it in the thread pool, beside parsing)', async () => {
  const c = chunkCompressor('zstd', 3)
  assert.equal(c.async, true)
  assert.equal(c.extension, '.zst')
  let sync = true
  const out = await new Promise<Buffer>((resolve, reject) => {
    c.compress(Buffer.from('a'.repeat(100_000)), (err, data) => { if (err !== null) reject(err); else resolve(data) })
    sync = false
  })
  assert.equal(sync, false)
  assert.equal(zstdDecompressFrames(out).length, 100_000)
})

test('zstd chunks of every size and level are valid frames, and concatenated frames are one valid file', async () => {
  const inputs = Array.from({ length: 20 }, (_, i) => Buffer.from(`{"n":${i},"pad":"${'x'.repeat(i * 997)}"}\n`.repeat(1 + i * 3)))
  const outputs = await Promise.all(inputs.map(async (input, i) => await new Promise<Buffer>((resolve, reject) => {
    chunkCompressor('zstd', 1 + (i % 19)).compress(input, (err, out) => { if (err !== null) reject(err); else resolve(out) })
  })))
  outputs.forEach((out, i) => { assert.deepEqual(zstdDecompressFrames(out), inputs[i]) })
  assert.deepEqual(zstdDecompressFrames(Buffer.concat(outputs)), Buffer.concat(inputs))
})

test('the level reaches the compressor (level 19 is smaller than level 1 on repetitive text)', () => {
  const text = Buffer.from(Array.from({ length: 5000 }, (_, i) => `{"i":${i % 97},"msg":"hello ${i % 13}"}\n`).join(''))
  const fast = zstdSync(1)(text)
  const small = zstdSync(19)(text)
  assert.deepEqual(zstdDecompressFrames(small), text)
  assert.ok(small.length < fast.length, `level 19 ${small.length} B < level 1 ${fast.length} B`)
})
