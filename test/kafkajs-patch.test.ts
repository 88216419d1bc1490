import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

// patches/kafkajs+2.2.4.patch (applied by `npm ci` through the prepare script): with nothing pending and no
// throttling, kafkajs 2.2.4 re-armed a negative-delay timer after every response — a 1 ms busy loop that Node 24
// reports as TimeoutNegativeWarning (kafkajs#1751). The patched queue schedules nothing then.
interface Queue { pending: unknown[], throttledUntil: number, throttleCheckTimeoutId: unknown, checkPendingRequests: () => void, destroy: () => void }
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue
const quiet = { debug () {}, info () {}, warn () {}, error () {} }

test('kafkajs patch: an idle request queue arms no timer; a throttled one still checks again later', (t) => {
  const queue = new RequestQueue({ maxInFlightRequests: null, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: 'b', logger: quiet })
  t.after(() => { queue.destroy() })
  queue.checkPendingRequests() // what every response does
  assert.equal(queue.throttleCheckTimeoutId, null, 'no timer while idle (run `npm ci` to apply patches/)')

  queue.throttledUntil = Date.now() + 60_000
  queue.checkPendingRequests()
  assert.notEqual(queue.throttleCheckTimeoutId, null, 'throttled: the pending queue is checked when the throttle ends')
})
