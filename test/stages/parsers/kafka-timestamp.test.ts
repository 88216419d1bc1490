import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TS, msg, parseAll, reasons, times } from './helpers.js'

test('kafka-timestamp: any bytes at the Kafka timestamp; fields from headers', async () => {
  const records = [
    msg(1, 'plain text', { headers: { type: Buffer.from('click'), region: 'eu' } }),
    msg(2, Buffer.from([0xff, 0x00]), { timestamp: TS + 1 }),
    msg(3, null),
    msg(4, 'a\nb'),
    msg(5, 'x', { timestamp: Number.NaN })
  ]
  const batch = await parseAll({ type: 'kafka-timestamp', fields: { eventType: 'type', region: 'region', missing: 'nope' } }, records)
  assert.deepEqual(times(batch), [[1, TS], [2, TS + 1]])
  assert.deepEqual(batch.good[0]?.fields, { eventType: 'click', region: 'eu' })
  assert.equal(batch.good[1]?.fields, undefined)
  assert.equal(batch.good[0]?.kafka, records[0])
  assert.deepEqual(reasons(batch), [[3, 'tombstone (null value)'], [4, 'value contains a line break'], [5, 'invalid Kafka record timestamp NaN']])
})
