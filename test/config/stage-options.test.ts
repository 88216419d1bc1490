import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { ConfigError } from '../../src/errors.js'

// Config validation of stage-related options (issue 10, item 11).

function config (kafka: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return { kafka: { brokers: ['localhost:9092'], groupId: 'g', topics: ['events'], ...kafka }, sink: { bucket: 'my-bucket' }, ...rest }
}

function rejects (raw: unknown, path: string, message: RegExp): void {
  assert.throws(() => validateConfig(raw), (err: unknown) => err instanceof ConfigError && err.path === path && message.test(err.message))
}

test('kafka.topics and topicOverrides refuse a topic named _errors or _sediment (its directory would collide)', () => {
  rejects(config({ topics: ['events', '_errors'] }), 'kafka.topics[1]', /topic "_errors" cannot be archived: "_errors\/" below the prefix is reserved for the error output/)
  rejects(config({ topics: ['_sediment'] }), 'kafka.topics[0]', /topic "_sediment" cannot be archived: .*Sediment's own objects/)
  rejects(config({}, { topicOverrides: [{ topics: ['_errors'], output: { format: 'jsonl' } }] }), 'topicOverrides[0].topics[0]', /cannot be archived/)
  assert.deepEqual((validateConfig(config({ topics: ['_errors_', 'errors'] })).kafka as { topics: string[] }).topics, ['_errors_', 'errors'])
})

test('parser.timestampUnit: auto, s, ms, us or ns; absent unless set', () => {
  rejects(config({}, { parser: { type: 'json', timestampField: 'ts', timestampUnit: 'millis' } }), 'parser.timestampUnit', /must be one of/)
  rejects(config({}, { parser: { type: 'json', timestampField: 'ts', timestampUnit: 1000 } }), 'parser.timestampUnit', /must be one of/)
  for (const unit of ['auto', 's', 'ms', 'us', 'ns']) {
    assert.equal(validateConfig(config({}, { parser: { type: 'json', timestampField: 'ts', timestampUnit: unit } })).parser.timestampUnit, unit)
  }
  assert.equal('timestampUnit' in validateConfig(config()).parser, false)
})
