import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseStage } from '../../../src/stages/parse.js'
import { ConfigError } from '../../../src/errors.js'
import type { ParserModule } from '../../../src/index.js'
import type { ParsedBatch } from '../../../src/types.js'
import { only, recordBatch, run } from '../helpers.js'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

/** A module file as an operator would write it: `ts|level|text`, TRACE filtered out. */
const PIPE_PARSER = `
let prefix = ''
export async function init () { prefix = 'app' }
export function parse (message) {
  const text = message.value.toString()
  if (text === 'boom') throw new Error('cannot parse boom')
  const [ts, level, rest] = text.split('|')
  if (level === 'TRACE') return null
  if (level === 'MULTI') return rest.split(',').map((t) => ({ timestamp: Number(t), value: { t: Number(t) } }))
  return { timestamp: ts, value: { level, text: rest, source: prefix, topic: message.topic, offset: message.offset }, fields: { level } }
}
`

async function moduleDir (t: { after: (fn: () => Promise<void>) => void }, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sediment-module-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return dir
}

test('custom parser module from a file (relative to baseDir): records, filtering (counted), multi-record, throws', async t => {
  const dir = await moduleDir(t, { 'pipe-parser.mjs': PIPE_PARSER })
  const records = [
    msg(1, `${TS}|INFO|hello`),
    msg(2, `${TS}|TRACE|noise`),
    msg(3, 'boom'),
    msg(4, `${TS}|MULTI|${TS},${TS + 3_600_000}`),
    msg(5, 'x|INFO|no time'),
    msg(6, '|INFO|')
  ]
  const stage = parseStage({ type: 'custom', module: './pipe-parser.mjs', baseDir: dir, timestampBounds: { maxFutureSeconds: 0 }, fields: { lvl: 'level' } })
  const [batch] = only(await run([recordBatch(records, 'app-logs')], stage), 'parsed') as [ParsedBatch]
  assert.deepEqual(times(batch), [[1, TS], [4, TS], [4, TS + 3_600_000]])
  const first = batch.good[0]!
  assert.deepEqual(first.doc, { level: 'INFO', text: 'hello', source: 'app', topic: 'app-logs', offset: 1 })
  assert.equal(first.value.toString(), JSON.stringify(first.doc))
  assert.equal(first.raw, records[0]?.value, 'the original bytes, since the value was rewritten')
  assert.deepEqual(first.fields, { lvl: 'INFO', level: 'INFO' }, 'parser.fields from the doc, plus the module\'s own')
  assert.equal(first.kafka, records[0])
  assert.deepEqual(reasons(batch), [[3, 'custom parser: cannot parse boom'], [5, 'non-numeric timestamp "x"'], [6, 'empty timestamp string']])
  assert.equal(batch.filtered, 1)
  assert.equal(stage.filtered, 1)
})

test('custom parser: results are checked, never thrown', async () => {
  const results: unknown[] = [
    { timestamp: TS },
    { timestamp: new Date(TS), value: 'as text' },
    { timestamp: TS, value: 'two\nlines' },
    { timestamp: TS, value: 42 },
    'a string',
    { value: {} },
    { timestamp: TS, fields: { bad: { nested: 1 } } },
    Promise.resolve({ timestamp: TS }),
    [],
    { timestamp: new Date(Number.NaN) },
    { timestamp: `${TS}`, value: Buffer.from('bytes') }
  ]
  const mod: ParserModule = { parse: m => results[m.offset] as never }
  const batch = await parseAll({ type: 'custom', module: mod }, results.map((_, i) => msg(i, `m${i}`)))
  assert.deepEqual(batch.good.map(r => [r.offset, r.value.toString()]), [[0, 'm0'], [1, 'as text'], [10, 'bytes']])
  assert.equal(batch.good[0]?.raw, undefined, 'value unchanged: no raw')
  assert.deepEqual(reasons(batch), [
    [2, 'custom parser returned a value with a line break'],
    [3, 'custom parser returned a value that is a number, expected an object, a string or a Buffer'],
    [4, 'custom parser returned a string, expected a record object'],
    [5, 'custom parser returned no timestamp'],
    [6, 'custom parser returned field "bad" as an object, expected a string, number or boolean'],
    [7, 'custom parser returned a Promise; parse must be synchronous (do asynchronous setup in init)'],
    [9, 'invalid Date timestamp']
  ])
  assert.equal(batch.filtered, 1, 'the empty array')
})

test('transform module on top of a parser: filter, enrich, re-time, throw; json doc parsed on demand', async t => {
  const dir = await moduleDir(t, {
    'transform.cjs': `
module.exports = function transform (record, message) {
  const doc = record.doc
  if (doc.kind === 'heartbeat') return null
  if (doc.kind === 'bad') throw new Error('no bad kinds')
  if (doc.kind === 'late') return { timestamp: record.timestamp + 3600000 }
  if (doc.kind === 'secret') return { value: { ...doc, password: undefined, redacted: true, partition: message.partition } }
  return undefined
}`
  })
  const values = ['{"ts": 1795158900, "kind": "view"}', '{"ts": 1795158900, "kind": "heartbeat"}', '{"ts": 1795158900, "kind": "bad"}',
    '{"ts": 1795158900, "kind": "late"}', '{"ts": 1795158900, "kind": "secret", "password": "p"}', 'not json']
  const records = values.map((v, i) => msg(i, v))
  const batch = await parseAll({ type: 'json', timestampField: 'ts', module: join(dir, 'transform.cjs') }, records)
  assert.deepEqual(times(batch), [[0, TS], [3, TS + 3_600_000], [4, TS]])
  assert.equal(batch.good[0]?.value, records[0]?.value, 'kept as it was')
  assert.deepEqual(JSON.parse(batch.good[2]?.value.toString() ?? ''), { ts: 1795158900, kind: 'secret', redacted: true, partition: 3 })
  assert.equal(batch.good[2]?.raw, records[4]?.value)
  assert.deepEqual(reasons(batch).map(([o, r]) => [o, r.replace(/:.*/s, '')]), [[2, 'transform'], [5, 'not JSON']])
  assert.equal(batch.bad[0]?.reason, 'transform: no bad kinds')
  assert.equal(batch.filtered, 1)

  // A transform also runs per line with split: lines.
  const split = await parseAll({ type: 'json', timestampField: 'ts', module: join(dir, 'transform.cjs'), split: 'lines' }, [msg(1, `${values[0] ?? ''}\n${values[1] ?? ''}\n${values[3] ?? ''}`)])
  assert.deepEqual(times(split), [[1, TS], [1, TS + 3_600_000]])
  assert.equal(split.filtered, 1)
})

test('module problems are ConfigErrors naming parser.module, at init', async t => {
  const dir = await moduleDir(t, {
    'parse-only.mjs': 'export function parse () { return null }',
    'broken.mjs': 'export const = 1',
    'failing-init.mjs': 'export default { parse () { return null }, async init () { throw new Error("no database") } }'
  })
  const cases: Array<[Parameters<typeof parseStage>[0], RegExp]> = [
    [{ type: 'custom', module: join(dir, 'missing.mjs') }, /cannot load/],
    [{ type: 'custom', module: join(dir, 'broken.mjs') }, /cannot load/],
    [{ type: 'custom', module: join(dir, 'failing-init.mjs') }, /init\(\) failed: no database/],
    [{ type: 'json', timestampField: 'ts', module: join(dir, 'parse-only.mjs') }, /must export transform.*set parser.type to "custom"/],
    [{ type: 'custom', module: {} }, /needs a module exporting parse/]
  ]
  for (const [options, message] of cases) {
    await assert.rejects(parseStage(options).init(), (err: unknown) => err instanceof ConfigError && err.path === 'parser.module' && message.test(err.message), String(options.module))
  }
  assert.throws(() => parseStage({ type: 'custom' }), (err: unknown) => err instanceof ConfigError && err.path === 'parser.module')
})
