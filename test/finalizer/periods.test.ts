import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { alterTableStatement, tableName, type CatalogPartition } from '../../src/finalizer/catalogs/index.js'
import { PeriodCalendar, finalizerTemplateProblem, hivePartitionValues } from '../../src/finalizer/periods.js'
import { completeness, partitionProgress, type PartitionProgress } from '../../src/finalizer/progress.js'
import { decodeMetadata, encodeMetadata } from '../../src/sinks/layout.js'

const H = 3_600_000
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0)

describe('periods of a template', () => {
  test('the last N hours before an instant, oldest first, with their UTC bounds', () => {
    const cal = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}', 'UTC')
    const periods = cal.periodsEndingBy(T0 + 2 * H + 1234, 3, 'weblogs')
    assert.deepEqual(periods.map((p) => p.dir), ['dt=2026-11-19/hr=23', 'dt=2026-11-20/hr=00', 'dt=2026-11-20/hr=01'])
    assert.deepEqual(periods.map((p) => [p.startMs, p.endMs]), [[T0 - H, T0], [T0, T0 + H], [T0 + H, T0 + 2 * H]])
  })

  test('a period ending exactly at the instant is included', () => {
    const cal = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}', 'UTC')
    assert.equal(cal.periodsEndingBy(T0 + 2 * H, 1, 't')[0]?.dir, 'dt=2026-11-20/hr=01')
  })

  test('time zones: local hours, and the repeated hour of a DST change ends at its second end', () => {
    const cal = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}', 'Europe/Berlin')
    // 2026-10-25: clocks go back at 03:00 CEST (01:00 UTC) to 02:00 CET; local hour 02 lasts two hours
    const end = Date.UTC(2026, 9, 25, 3, 0, 0)
    const periods = cal.periodsEndingBy(end, 3, 't')
    assert.deepEqual(periods.map((p) => p.dir), ['dt=2026-10-25/hr=01', 'dt=2026-10-25/hr=02', 'dt=2026-10-25/hr=03'])
    const two = periods[1]
    assert.equal(two?.startMs, Date.UTC(2026, 9, 25, 0, 0, 0))
    assert.equal(two?.endMs, Date.UTC(2026, 9, 25, 2, 0, 0))
    assert.equal(cal.endOf('dt=2026-10-25/hr=03'), Date.UTC(2026, 9, 25, 3, 0, 0))
    const india = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}', 'Asia/Kolkata')
    assert.deepEqual(india.periodsEndingBy(T0, 1, 't').map((p) => [p.dir, p.endMs]), [['dt=2026-11-20/hr=04', T0 - 30 * 60_000]])
  })

  test('days, 15-minute buckets and a {topic} segment', () => {
    const days = new PeriodCalendar('{topic}/dt={YYYY}-{MM}-{DD}', 'UTC')
    assert.deepEqual(days.periodsEndingBy(T0 + 5 * H, 2, 'web.logs').map((p) => p.dir), ['web.logs/dt=2026-11-18', 'web.logs/dt=2026-11-19'])
    assert.equal(days.endOf('web.logs/dt=2026-11-19'), T0)
    const quarter = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}/min={mm:15}', 'UTC')
    assert.deepEqual(quarter.periodsEndingBy(T0 + 40 * 60_000, 2, 't').map((p) => p.dir), ['dt=2026-11-20/hr=00/min=00', 'dt=2026-11-20/hr=00/min=15'])
    assert.equal(quarter.endOf('dt=2026-11-20/hr=00/min=15'), T0 + 30 * 60_000)
    const twenty = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}/min={mm:20}', 'Asia/Kolkata')
    assert.deepEqual(twenty.periodsEndingBy(T0, 2, 't').map((p) => p.dir), ['dt=2026-11-20/hr=04/min=40', 'dt=2026-11-20/hr=05/min=00'], '05:30 local: the bucket 05:20-05:40 is not over')
  })

  test('endOf parses only directories of the template', () => {
    const cal = new PeriodCalendar('dt={YYYY}-{MM}-{DD}/hr={HH}', 'UTC')
    assert.equal(cal.endOf('dt=2026-11-20/hr=07'), T0 + 8 * H)
    assert.equal(cal.endOf('dt=2026-11-20'), undefined)
    assert.equal(cal.endOf('other/dt=2026-11-20/hr=07'), undefined)
  })

  test('Hive partition values of a directory', () => {
    assert.deepEqual(hivePartitionValues('dt=2026-11-20/hr=07'), [['dt', '2026-11-20'], ['hr', '07']])
  })
})

describe('templates the finalizer accepts', () => {
  test('time templates are fine; catalogs need name=value segments', () => {
    assert.equal(finalizerTemplateProblem('dt={YYYY}-{MM}-{DD}/hr={HH}', true), undefined)
    assert.equal(finalizerTemplateProblem('{YYYY}/{MM}/{DD}/{HH}', false), undefined)
    assert.match(finalizerTemplateProblem('{YYYY}/{MM}/{DD}/{HH}', true) ?? '', /segment "\{YYYY\}" is not a Hive-style name=value/)
    assert.match(finalizerTemplateProblem('{topic}/dt={YYYY}-{MM}-{DD}', true) ?? '', /segment "\{topic\}"/)
    assert.match(finalizerTemplateProblem('month={YYYY}-{MM}', false) ?? '', /needs \{YYYY\}, \{MM\} and \{DD\}/)
    assert.match(finalizerTemplateProblem('dt={YYYY}-{MM}-{DD}/o={offset:1000}', false) ?? '', /\{offset:N\}/)
    assert.match(finalizerTemplateProblem('dt={YYYY}-{MM}-{DD}/dt={HH}', true) ?? '', /appears twice/)
  })

  test('config validation: a catalog with a template that has no name= segments is refused', () => {
    const base = {
      kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'] },
      sink: { type: 's3', bucket: 'my-bucket' }
    }
    const bad = { ...base, partition: { template: '{YYYY}/{MM}/{DD}/{HH}' }, finalizer: { catalog: { type: 'hive', hive: { command: ['hive', '-e'] } } } }
    assert.throws(() => validateConfig(bad), /partition\.template: segment "\{YYYY\}" is not a Hive-style name=value segment.*needed by finalizer\.catalog\.type "hive"/)
    // the same template is fine for markers only
    const markers = validateConfig({ ...bad, finalizer: { delaySeconds: 60 } })
    assert.equal(markers.finalizer?.catalog.type, 'none')
    assert.equal(markers.finalizer?.delaySeconds, 60)
  })

  test('config validation: defaults, catalog sections and secrets', () => {
    const base = { kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'] }, sink: { type: 's3', bucket: 'my-bucket' } }
    assert.equal(validateConfig(base).finalizer, undefined, 'no finalizer section, no finalizer config')
    assert.deepEqual(validateConfig({ ...base, finalizer: {} }).finalizer, {
      delaySeconds: 900, lookbackPeriods: 24, intervalSeconds: 300, inRun: false, catalog: { type: 'none', database: 'default', table: '{topic}' }
    })
    const glue = validateConfig({ ...base, finalizer: { catalog: { type: 'glue', database: 'logs', glue: { endpoint: 'http://127.0.0.1:1', catalogId: '123456789012' } } } })
    assert.deepEqual(glue.finalizer?.catalog, { type: 'glue', database: 'logs', table: '{topic}', glue: { endpoint: 'http://127.0.0.1:1', catalogId: '123456789012' } })
    const qubole = validateConfig({ ...base, finalizer: { catalog: { type: 'qubole', qubole: { url: 'https://api.qubole.com' } } } })
    assert.deepEqual(qubole.finalizer?.catalog.qubole, { url: 'https://api.qubole.com', tokenEnv: 'QUBOLE_API_TOKEN', pollSeconds: 5, timeoutSeconds: 600 })
    assert.throws(() => validateConfig({ ...base, finalizer: { catalog: { type: 'qubole', qubole: { url: 'https://q', token: 's3cr3t' } } } }),
      (err: Error) => /qubole\.token: not allowed; put the token in an environment variable/.test(err.message) && !err.message.includes('s3cr3t'))
    assert.throws(() => validateConfig({ ...base, finalizer: { catalog: { type: 'hive' } } }), /finalizer\.catalog\.hive\.command: required/)
    assert.throws(() => validateConfig({ ...base, finalizer: { catalog: { type: 'glue', hive: { command: ['x'] } } } }), /finalizer\.catalog\.hive: not allowed when finalizer\.catalog\.type is "glue"/)
    assert.throws(() => validateConfig({ ...base, finalizer: { catalog: { type: 'hive', table: 'web-logs', hive: { command: ['x'] } } } }), /finalizer\.catalog\.table: must be a name/)
    assert.throws(() => validateConfig({ ...base, finalizer: { delaySecond: 5 } }), /finalizer\.delaySecond: unknown key \(did you mean "delaySeconds"\?\)/)
  })
})

describe('completeness from offsets and commit metadata', () => {
  const delay = 10 * 60_000
  const now = T0 + 10 * H
  const p = (over: Partial<PartitionProgress>): PartitionProgress => ({ partition: 0, committed: 100, low: 0, high: 200, ...over })

  test('lagging partitions vouch for their watermark minus the delay; the minimum wins', () => {
    const c = completeness([p({ partition: 0, wm: T0 + 5 * H }), p({ partition: 1, wm: T0 + 3 * H })], now, delay)
    assert.equal(c.completeThrough, T0 + 3 * H - delay)
    assert.equal(c.limitedBy?.partition, 1)
    assert.match(c.limitedBy?.reason ?? '', /100 records not committed/)
  })

  test('no watermark and records pending: nothing is complete', () => {
    assert.equal(completeness([p({ wm: T0 + 5 * H }), p({ partition: 1 })], now, delay).completeThrough, -Infinity)
  })

  test('idle partitions (caught up, last commit older than the delay) vouch for the wall clock minus the delay', () => {
    const idle = p({ committed: 200, wm: T0 + H, ct: now - delay - 1 })
    assert.equal(completeness([idle], now, delay).completeThrough, now - delay)
    const recent = p({ committed: 200, wm: T0 + H, ct: now - 1000 })
    assert.equal(completeness([recent], now, delay).completeThrough, T0 + H - delay, 'caught up but not idle long enough: its watermark')
    const empty = { partition: 2, committed: null, low: 0, high: 0 }
    assert.equal(completeness([empty], now, delay).completeThrough, now - delay, 'an empty partition is idle')
    const old = p({ committed: 200 }) // metadata from before `ct`
    assert.equal(completeness([old], now, delay).completeThrough, -Infinity)
    assert.equal(completeness([{ ...old, caughtUpSince: now - delay - 1 }], now, delay).completeThrough, now - delay, 'seen caught up long enough by this process')
  })

  test('commit metadata carries wm and ct; old metadata without ct still decodes', () => {
    const text = encodeMetadata({ v: 1, intent: 'i', manifest: 'm', start: 0, end: 5, wm: T0, ct: now })
    assert.deepEqual(partitionProgress(3, { low: 0, high: 5 }, { offset: 5, metadata: text }), { partition: 3, committed: 5, low: 0, high: 5, wm: T0, ct: now })
    const old = '{"v":1,"intent":"i","manifest":"m","start":0,"end":5,"wm":1}'
    assert.equal(decodeMetadata(old)?.ct, undefined)
    assert.deepEqual(partitionProgress(0, { low: 0, high: 9 }, { offset: 5, metadata: old }), { partition: 0, committed: 5, low: 0, high: 9, wm: 1 })
    assert.deepEqual(partitionProgress(0, { low: 0, high: 9 }, undefined), { partition: 0, committed: null, low: 0, high: 9 })
  })
})

describe('catalog statements', () => {
  test('ALTER TABLE ... ADD IF NOT EXISTS PARTITION ... LOCATION ..., quoted', () => {
    const part = (hr: string): CatalogPartition => ({
      topic: 'web.logs', dir: `dt=2026-11-20/hr=${hr}`, database: 'logs', table: tableName('raw_{topic}', 'web.logs'),
      values: [['dt', '2026-11-20'], ['hr', hr]], location: `s3://b/raw/web.logs/dt=2026-11-20/hr=${hr}/`
    })
    assert.equal(alterTableStatement([part('07'), part("0'8")]),
      "ALTER TABLE `logs`.`raw_web_logs` ADD IF NOT EXISTS PARTITION (`dt`='2026-11-20', `hr`='07') LOCATION 's3://b/raw/web.logs/dt=2026-11-20/hr=07/' " +
      "PARTITION (`dt`='2026-11-20', `hr`='0\\'8') LOCATION 's3://b/raw/web.logs/dt=2026-11-20/hr=0\\'8/'")
  })
})
