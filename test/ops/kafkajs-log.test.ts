import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { logLevel } from 'kafkajs'
import { createLogger } from '../../src/logger.js'
import { kafkajsLogCreator } from '../../src/ops/kafkajs-log.js'

function setup (level: 'info' | 'debug' = 'info'): { log: (l: number, namespace: string, message: string, extra?: Record<string, unknown>) => void, lines: () => Array<Record<string, unknown>>, advance: (ms: number) => void } {
  let text = ''
  let clock = 0
  const logger = createLogger({ level, destination: new Writable({ write (c, _e, cb) { text += String(c); cb() } }) })
  const entryLog = kafkajsLogCreator(logger, { intervalMs: 30_000, now: () => clock })(logLevel.WARN)
  return {
    log: (l, namespace, message, extra = {}) => { entryLog({ namespace, level: l, label: 'ERROR', log: { timestamp: 'x', logger: 'kafkajs', message, stack: 'Error: x\n    at y', ...extra } } as never) },
    lines: () => text.trim().split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>),
    advance: (ms) => { clock += ms }
  }
}

test('connection failures: one warning per interval, counting the rest, no stacks', () => {
  const s = setup()
  for (let i = 0; i < 21; i++) {
    s.log(logLevel.ERROR, i % 2 === 0 ? 'Connection' : 'BrokerPool', i % 2 === 0 ? 'Connection error: connect ECONNREFUSED 127.0.0.1:1' : 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1' })
    s.advance(600) // 21 lines in ~12 s, as kafkajs logs them
  }
  assert.equal(s.lines().length, 1)
  s.advance(30_000)
  s.log(logLevel.ERROR, 'Connection', 'Connection timeout', { broker: '127.0.0.1:1' })
  const lines = s.lines()
  assert.equal(lines.length, 2)
  assert.equal(lines[1]?.similarSinceLast, 20)
  assert.equal(lines[1]?.level, 40)
  assert.match(String(lines[1]?.msg), /Kafka connection failed, the client retries/)
  assert.doesNotMatch(JSON.stringify(lines), /stack|"timestamp"|"logger"/)
})

test('other errors pass at their level; their stack only with debug logging', () => {
  const info = setup()
  info.log(logLevel.ERROR, 'Runner', 'The group is rebalancing, re-joining')
  info.log(logLevel.WARN, 'Fetcher', 'something odd')
  assert.deepEqual(info.lines().map(l => [l.level, l.msg, 'stack' in l]), [[50, 'The group is rebalancing, re-joining', false], [40, 'something odd', false]])
  const debug = setup('debug')
  debug.log(logLevel.ERROR, 'Runner', 'The group is rebalancing, re-joining')
  assert.equal(debug.lines()[0]?.stack, 'Error: x\n    at y')
})
