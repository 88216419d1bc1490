import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseRestoreArgs } from '../../src/restore/command.js'
import { main } from '../../src/cli.js'
import { PassThrough } from 'node:stream'

test('restore arguments: selections, defaults and mistakes', () => {
  const time = parseRestoreArgs(['-c', 'f.yaml', '-t', 'a', '--from', '2026-01-01', '--to', '2026-01-02T03'])
  assert.deepEqual([time.targetTopic, time.range, time.partitioning, time.idempotent, time.dryRun], ['a', { kind: 'time', from: '2026-01-01', to: '2026-01-02T03' }, 'source', true, false])
  const offsets = parseRestoreArgs(['-c', 'f.yaml', '-t', 'a', '--target', 'b', '--from-offset', '10', '-p', '2', '-p', '3', '--dry-run'])
  assert.deepEqual([offsets.targetTopic, offsets.range, offsets.dryRun], ['b', { kind: 'offsets', from: 10, partitions: [2, 3] }, true])
  assert.throws(() => parseRestoreArgs(['-c', 'f', '-t', 'a', '--from', '2026-01-01', '--from-offset', '1']), /not both/)
  assert.throws(() => parseRestoreArgs(['-t', 'a']), /--config/)
  assert.throws(() => parseRestoreArgs(['-c', 'f']), /--topic/)
  assert.throws(() => parseRestoreArgs(['-c', 'f', '-t', 'a', '--from-offset=x1']), /non-negative integer/)
  assert.throws(() => parseRestoreArgs(['-c', 'f', '-t', 'a', '--partitioning', 'hash']), /source or modulo/)
})

test('sediment restore: a usage error exits 2 and shows the restore usage', async () => {
  const err = new PassThrough()
  let text = ''
  err.on('data', (c: Buffer) => { text += c.toString() })
  const code = await main(['restore', '--topic', 'a', '--bogus'], {}, { stdout: new PassThrough(), stderr: err })
  assert.equal(code, 2)
  assert.match(text, /unknown option "--bogus"/)
  assert.match(text, /Usage: sediment restore/)
})
