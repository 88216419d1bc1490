import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { createLogger } from '../src/logger.js'
import { formatEntry } from '../src/pretty-log.js'
import { CENSOR, redactText, redactValue } from '../src/redact.js'

describe('redactText: secrets by the shape of the value', () => {
  const cases: Array<[string, string]> = [
    ['https://user:pa55@registry.example:8081/subjects', `https://${CENSOR}@registry.example:8081/subjects`],
    ['http://only-user@host/', `http://${CENSOR}@host/`],
    ['https://u:p@ss:w@rd@host:1/x', `https://${CENSOR}@host:1/x`],
    ['fetch https://a:b@h1/ and https://c:d@h2/ failed', `fetch https://${CENSOR}@h1/ and https://${CENSOR}@h2/ failed`],
    ['jdbc:hive2://h:10000/default;user=u;password=hunter2;ssl=true', `jdbc:hive2://h:10000/default;user=u;password=${CENSOR};ssl=true`],
    ['https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA&X-Amz-Signature=abcdef', `https://b.s3.amazonaws.com/k?X-Amz-Credential=${CENSOR}&X-Amz-Signature=${CENSOR}`],
    ['--password=hunter2', `--password=${CENSOR}`],
    ['Authorization: Bearer abc.def.ghi', `Authorization: Bearer ${CENSOR}`],
    ['Basic dXNlcjpwYXNz', `Basic ${CENSOR}`],
    ['hive command failed: beeline -u jdbc:hive2://h/ -n u -p hunter2 -e "MSCK"', `hive command failed: beeline -u jdbc:hive2://h/ -n u -p ${CENSOR} -e "MSCK"`]
  ]
  for (const [input, expected] of cases) {
    test(input, () => { assert.equal(redactText(input), expected) })
  }
  test('ordinary text and e-mail-like strings without a scheme are left alone', () => {
    for (const s of ['cannot reach Kafka, retrying', 'kafka-1.kafka:9092', 's3://bucket/prefix', 'ops@example.com', 'dt=2026-11-20/hr=07', 'a=b']) {
      assert.equal(redactText(s), s)
    }
  })
})

describe('redactValue: key names at any depth, strings by shape', () => {
  test('nested config, arrays, command lines', () => {
    const input = {
      config: {
        kafka: { sasl: { mechanism: 'plain', username: 'u', password: 'p1' } },
        topicOverrides: [{ parser: { avro: { registryUrl: 'https://u:p2@reg/' } } }],
        metrics: { opentsdb: { url: 'http://tsdb:4242', username: 'u', password: 'p3' } },
        finalizer: { catalog: { hive: { command: ['beeline', '-u', 'jdbc:hive2://h/;password=p4', '-n', 'u', '-p', 'p5'] } } },
        deep: { a: { b: { c: { d: { e: { f: { credentials: { secretAccessKey: 'p6' } } } } } } } }
      }
    }
    const out = JSON.stringify(redactValue(input))
    for (const secret of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) assert.doesNotMatch(out, new RegExp(`"${secret}"|[=:]${secret}\\b`), out)
    assert.match(out, /"-p","\[redacted\]"/)
    assert.equal((input.config.kafka.sasl.password), 'p1', 'the input is not modified')
  })

  test('errors keep their prototype; message, stack and cause are redacted', () => {
    const err = new TypeError('GET https://u:secret1@reg/x failed', { cause: new Error('token=secret2') })
    const out = redactValue(err) as TypeError
    assert.ok(out instanceof TypeError)
    assert.doesNotMatch(`${out.message} ${out.stack ?? ''} ${(out.cause as Error).message}`, /secret1|secret2/)
  })

  test('cycles and class instances do not break it', () => {
    const a: Record<string, unknown> = { url: new URL('https://u:secret3@h/') }
    a.self = a
    const buf = Buffer.from('x')
    const out = redactValue({ a, buf }) as { a: { url: string }, buf: Buffer }
    assert.equal(out.a.url, `https://${CENSOR}@h/`)
    assert.equal(out.buf, buf)
  })
})

function capture (): { stream: Writable, text: () => string } {
  let text = ''
  return { stream: new Writable({ write (chunk, _enc, cb) { text += String(chunk); cb() } }), text: () => text }
}

describe('logger', () => {
  test('redacts message strings, objects, errors and child bindings', () => {
    const out = capture()
    const log = createLogger({ level: 'info', destination: out.stream })
    log.child({ component: 'x', endpoint: 'http://a:bind-secret@h' }).info({ config: { sink: { endpoint: 'http://a:obj-secret@h' } } }, 'starting with %s', 'https://a:arg-secret@h')
    log.error({ err: new Error('failed https://a:err-secret@h') }, 'msg https://a:msg-secret@h')
    log.error(new Error('top-level https://a:top-secret@h'))
    assert.doesNotMatch(out.text(), /-secret/, out.text())
    assert.equal(out.text().trim().split('\n').length, 3)
    assert.match(out.text(), /"type":"Error"/, 'errors are still serialized as errors')
  })

  test('pretty: readable lines, not JSON', () => {
    const out = capture()
    const log = createLogger({ level: 'info', destination: out.stream, pretty: true })
    log.child({ component: 'source' }).warn({ brokers: ['127.0.0.1:1'], attempt: 3, err: new Error('connect ECONNREFUSED') }, 'cannot reach Kafka, retrying')
    const line = out.text().trim()
    assert.throws(() => JSON.parse(line))
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}source: cannot reach Kafka, retrying {2}brokers=\["127\.0\.0\.1:1"\] attempt=3 err="connect ECONNREFUSED"$/)
    assert.doesNotMatch(line, /\n/, 'no stack below warn')
  })

  test('pretty: a fatal error shows its stack; garbage passes through', () => {
    const line = formatEntry(JSON.stringify({ level: 60, time: 0, msg: 'boom', err: { type: 'Error', message: 'x', stack: 'Error: x\n    at f (a.js:1:1)' } }))
    assert.equal(line, '00:00:00.000 FATAL boom  err=x\n    at f (a.js:1:1)')
    assert.equal(formatEntry('not json\n'), 'not json')
  })
})
