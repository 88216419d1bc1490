import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BadRecord, ParsedBatch, ParsedRecord, RoutedBatch } from '../../src/types.js'
import { partitionStage } from '../../src/stages/partition.js'
import { ConfigError } from '../../src/errors.js'
import { only, run } from './helpers.js'

function parsed (good: Array<[offset: number, ms: number]>, bad: BadRecord[] = [], topic = 'events'): ParsedBatch {
  const offsets = [...good.map(g => g[0]), ...bad.map(b => b.offset)]
  return {
    kind: 'parsed',
    topic,
    partition: 2,
    epoch: 4,
    firstOffset: offsets.length === 0 ? 0 : Math.min(...offsets),
    nextOffset: Math.max(...offsets, -1) + 1,
    rawBytes: 123,
    good: good.map(([offset, timestampMs]): ParsedRecord => ({ offset, timestampMs, value: Buffer.from(`v${offset}`) })),
    bad
  }
}

async function route (batch: ParsedBatch, options: { template?: string, timezone?: string, fields?: string[] } = {}): Promise<RoutedBatch> {
  const [routed] = only(await run([batch], partitionStage(options)), 'routed')
  assert.ok(routed)
  return routed
}

/** dir → offsets */
function layout (routed: RoutedBatch): Record<string, number[]> {
  return Object.fromEntries(routed.groups.map(g => [g.dir, g.offsets]))
}

const at = (iso: string): number => Date.parse(iso)

test('UTC: default template, groups in first-appearance order, offsets ascending', async () => {
  const routed = await route(parsed([
    [1, at('2026-11-20T07:15:00Z')],
    [2, at('2026-11-20T07:59:59.999Z')],
    [3, at('2026-11-20T08:00:00Z')],
    [4, at('2026-11-20T07:30:00Z')], // late event: back to hour 07
    [5, at('2027-01-01T00:00:00Z')],
    [6, at('2026-11-20T08:10:00Z')]
  ]))
  assert.deepEqual(layout(routed), {
    'events/dt=2026-11-20/hr=07': [1, 2, 4],
    'events/dt=2026-11-20/hr=08': [3, 6],
    'events/dt=2027-01-01/hr=00': [5]
  })
  assert.deepEqual(routed.groups.map(g => g.dir), ['events/dt=2026-11-20/hr=07', 'events/dt=2026-11-20/hr=08', 'events/dt=2027-01-01/hr=00'])
  assert.deepEqual(routed.groups[0]?.values.map(v => v.toString()), ['v1', 'v2', 'v4'])
  assert.deepEqual(
    { topic: routed.topic, partition: routed.partition, epoch: routed.epoch, firstOffset: routed.firstOffset, nextOffset: routed.nextOffset, rawBytes: routed.rawBytes },
    { topic: 'events', partition: 2, epoch: 4, firstOffset: 1, nextOffset: 7, rawBytes: 123 })
})

test('custom template with minutes and topic; years outside 0000-9999', async () => {
  const routed = await route(parsed([
    [1, at('2026-11-20T07:15:42Z')],
    [2, 0],
    [3, at('0099-03-04T05:06:00Z')],
    [4, 8.64e15]
  ], [], 'my.topic-1'), { template: 'year={YYYY}/{MM}{DD}/{HH}{mm}/t={topic}' })
  assert.deepEqual(Object.keys(layout(routed)), [
    'my.topic-1/year=2026/1120/0715/t=my.topic-1',
    'my.topic-1/year=1970/0101/0000/t=my.topic-1',
    'my.topic-1/year=0099/0304/0506/t=my.topic-1',
    'my.topic-1/year=275760/0913/0000/t=my.topic-1'
  ])
})

test('Europe/Berlin across both DST transitions', async () => {
  const routed = await route(parsed([
    [1, at('2026-03-29T00:59:59Z')], // 01:59:59 CET
    [2, at('2026-03-29T01:00:00Z')], // 03:00 CEST: hour 02 does not exist
    [3, at('2026-10-25T00:30:00Z')], // 02:30 CEST
    [4, at('2026-10-25T01:30:00Z')], // 02:30 CET: the repeated hour shares the directory
    [5, at('2026-10-25T02:00:00Z')], // 03:00 CET
    [6, at('2026-12-31T23:30:00Z')] // 00:30 next year
  ]), { timezone: 'Europe/Berlin' })
  assert.deepEqual(layout(routed), {
    'events/dt=2026-03-29/hr=01': [1],
    'events/dt=2026-03-29/hr=03': [2],
    'events/dt=2026-10-25/hr=02': [3, 4],
    'events/dt=2026-10-25/hr=03': [5],
    'events/dt=2027-01-01/hr=00': [6]
  })
})

test('Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45) with minutes', async () => {
  const kolkata = await route(parsed([
    [1, at('2026-11-20T18:29:59Z')],
    [2, at('2026-11-20T18:30:00Z')],
    [3, at('2026-11-20T07:15:00Z')]
  ]), { timezone: 'Asia/Kolkata' })
  assert.deepEqual(layout(kolkata), {
    'events/dt=2026-11-20/hr=23': [1],
    'events/dt=2026-11-21/hr=00': [2],
    'events/dt=2026-11-20/hr=12': [3]
  })
  const kathmandu = await route(parsed([[1, at('2026-11-20T07:15:00Z')]]), { timezone: 'Asia/Kathmandu', template: '{HH}:{mm}' })
  assert.deepEqual(Object.keys(layout(kathmandu)), ['events/13:00'])
})

test('zones agree with Intl for random instants over decades', async () => {
  const zones = ['America/New_York', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham', 'Europe/London', 'Asia/Kolkata']
  let seed = 42
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  const times = Array.from({ length: 3000 }, () => Math.floor(at('1990-01-01T00:00:00Z') + rand() * 45 * 365 * 86_400_000))
  for (const timeZone of zones) {
    const fmt = new Intl.DateTimeFormat('en-CA', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    const expected = (ms: number): string => {
      const p = Object.fromEntries(fmt.formatToParts(ms).map(x => [x.type, x.value]))
      return `events/${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`
    }
    const routed = await route(parsed(times.map((ms, i) => [i, ms])), { timezone: timeZone, template: '{YYYY}-{MM}-{DD}T{HH}:{mm}' })
    for (const group of routed.groups) {
      for (const offset of group.offsets) assert.equal(group.dir, expected(times[offset]!), `${timeZone} ${new Date(times[offset]!).toISOString()}`)
    }
  }
})

test('bad records go to _errors by Kafka timestamp as one JSON object each', async () => {
  const bad: BadRecord[] = [
    { offset: 5, partition: 2, timestamp: at('2026-11-20T09:00:00Z'), reason: 'not JSON: "quoted"', value: Buffer.from('he said "hi"\nbye') },
    { offset: 6, partition: 2, timestamp: at('2026-11-20T09:10:00Z'), reason: 'invalid UTF-8', value: Buffer.from([0xff, 0x00, 0x41]) },
    { offset: 7, partition: 2, timestamp: at('2026-11-20T10:00:00Z'), reason: 'tombstone (null value)', value: null },
    { offset: 8, partition: 2, timestamp: -1, reason: 'x', value: Buffer.from('') }
  ]
  const routed = await route(parsed([[4, at('2026-11-20T07:00:00Z')]], bad))
  assert.deepEqual(layout(routed), {
    'events/dt=2026-11-20/hr=07': [4],
    '_errors/events/dt=2026-11-20/hr=09': [5, 6],
    '_errors/events/dt=2026-11-20/hr=10': [7],
    '_errors/events/dt=1969-12-31/hr=23': [8]
  })
  const lines = routed.groups.slice(1).flatMap(g => g.values.map(v => v.toString()))
  for (const line of lines) assert.ok(!line.includes('\n'), 'one line each')
  assert.equal(lines[0], `{"offset":5,"partition":2,"timestamp":${at('2026-11-20T09:00:00Z')},"reason":"not JSON: \\"quoted\\"","value":"he said \\"hi\\"\\nbye"}`)
  assert.deepEqual(JSON.parse(lines[0]!), { offset: 5, partition: 2, timestamp: at('2026-11-20T09:00:00Z'), reason: 'not JSON: "quoted"', value: 'he said "hi"\nbye' })
  assert.deepEqual(JSON.parse(lines[1]!), { offset: 6, partition: 2, timestamp: at('2026-11-20T09:10:00Z'), reason: 'invalid UTF-8', valueBase64: Buffer.from([0xff, 0x00, 0x41]).toString('base64') })
  assert.deepEqual(JSON.parse(lines[2]!), { offset: 7, partition: 2, timestamp: at('2026-11-20T10:00:00Z'), reason: 'tombstone (null value)', value: null })
  assert.deepEqual(JSON.parse(lines[3]!), { offset: 8, partition: 2, timestamp: -1, reason: 'x', value: '' })
})

test('odd topic names and garbage times cannot escape the directory', async () => {
  const routed = await route(parsed([[1, Number.NaN], [2, Number.POSITIVE_INFINITY]], [], '../etc/passwd'))
  for (const group of routed.groups) {
    assert.ok(!group.dir.split('/').some(s => s === '..' || s === '.' || s === ''), group.dir)
    assert.ok(group.dir.startsWith('%2E%2E%2Fetc%2Fpasswd/'), group.dir)
  }
  const dots = await route(parsed([[1, 0]], [], '..'))
  assert.equal(dots.groups[0]?.dir, '%2E%2E/dt=1970-01-01/hr=00')
})

test('invalid template or zone is a ConfigError', () => {
  for (const template of ['{YYYY}/../x', '/{YYYY}', '{YYYY}/', 'a//b', '{yyyy}', '{YYYY', 'a}b', './{HH}']) {
    assert.throws(() => partitionStage({ template, timezone: 'UTC' }), ConfigError, template)
  }
  assert.throws(() => partitionStage({ template: '{HH}', timezone: 'Mars/Olympus' }), ConfigError)
})

test('control items and other kinds pass through in order; empty batches flow', async () => {
  const items = [{ kind: 'flush' as const }, parsed([]), { kind: 'assignment' as const, epoch: 2, partitions: [] }, parsed([[1, 0]])]
  const out = await run(items, partitionStage({ template: 'dt={YYYY}-{MM}-{DD}/hr={HH}', timezone: 'UTC' }))
  assert.deepEqual(out.map(i => i.kind), ['flush', 'routed', 'assignment', 'routed'])
  assert.equal(out[0], items[0])
  assert.deepEqual((out[1] as RoutedBatch).groups, [])
})

test('{mm:N} buckets minutes; {offset:N} buckets offsets (Secor backup layout)', async () => {
  const minutes = await route(parsed([[1, at('2026-11-20T07:14:59Z')], [2, at('2026-11-20T07:15:00Z')], [3, at('2026-11-20T07:59:59Z')]]),
    { template: 'dt={YYYY}-{MM}-{DD}/hr={HH}/min={mm:15}' })
  assert.deepEqual(layout(minutes), {
    'events/dt=2026-11-20/hr=07/min=00': [1],
    'events/dt=2026-11-20/hr=07/min=15': [2],
    'events/dt=2026-11-20/hr=07/min=45': [3]
  })
  const offsets = await route(parsed([[999, 0], [1000, 0], [2500, 0]], [{ offset: 1999, partition: 2, timestamp: 0, reason: 'x', value: null }]),
    { template: 'offset={offset:1000}' })
  assert.deepEqual(layout(offsets), {
    'events/offset=0': [999],
    'events/offset=1000': [1000],
    'events/offset=2000': [2500],
    '_errors/events/offset=1000': [1999]
  })
  for (const template of ['{mm:7}', '{mm:0}', '{offset:0}', '{offset:x}']) {
    assert.throws(() => partitionStage({ template }), ConfigError, template)
  }
})

test('parser fields as path segments: escaped, missing → Hive default partition, undeclared names rejected', async () => {
  const batch = parsed([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]])
  const values: Array<Record<string, string> | undefined> = [{ type: 'click' }, { type: 'a/b=c%' }, undefined, { type: '..' }, { type: 'click' }]
  batch.good.forEach((record, i) => { const f = values[i]; if (f !== undefined) record.fields = f })
  const routed = await route(batch, { template: 'type={type}/dt={YYYY}-{MM}-{DD}', fields: ['type'] })
  assert.deepEqual(layout(routed), {
    'events/type=click/dt=1970-01-01': [1, 5],
    'events/type=a%2Fb%3Dc%25/dt=1970-01-01': [2],
    'events/type=__HIVE_DEFAULT_PARTITION__/dt=1970-01-01': [3],
    'events/type=%2E%2E/dt=1970-01-01': [4]
  })
  assert.throws(() => partitionStage({ template: 'type={typo}', fields: ['type'] }), /unknown token \{typo\}.*\{type\}/)
})

test('a topic named _errors or _sediment is refused with a clear error: its directory would collide with the error output or Sediment\'s own objects', async () => {
  for (const topic of ['_errors', '_sediment']) {
    await assert.rejects(run([parsed([[0, 1_795_158_900_000]], [], topic)], partitionStage()), (err: unknown) =>
      err instanceof ConfigError && err.path === 'kafka.topicPattern' && err.message.includes(`topic "${topic}" cannot be archived`))
  }
  // Names that merely resemble them are topics like any other.
  for (const topic of ['_errors_', 'errors', '_sediment.x']) {
    assert.deepEqual(Object.keys(layout(await route(parsed([[0, 1_795_158_900_000]], [], topic)))), [`${topic}/dt=2026-11-20/hr=07`])
  }
})
