import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SchemaFailure, SchemaRegistry } from '../../../src/stages/parsers/schema-registry.js'

// The registry client's cache (issue 10, item 11): bounded, and a definite failure (404) is not remembered forever.

/** A registry on 127.0.0.1:0 serving `schemas` (mutable: a test registers an id later); counts requests per id. */
async function startRegistry (t: TestContext, schemas: Map<number, unknown>): Promise<{ url: string, requests: Map<number, number> }> {
  const requests = new Map<number, number>()
  const server = createServer((req, res) => {
    const id = Number(/^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '')?.[1])
    requests.set(id, (requests.get(id) ?? 0) + 1)
    const schema = schemas.get(id)
    if (schema === undefined) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"error_code":40403,"message":"Schema not found"}'); return }
    res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ schema: JSON.stringify(schema) }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

const schema = (id: number): unknown => ({ type: 'record', name: `R${id}`, fields: [] })

test('a 404 is remembered for failureTtlMs only: an id registered later is fetched and used', async t => {
  const schemas = new Map<number, unknown>()
  const { url, requests } = await startRegistry(t, schemas)
  let now = 1_000_000
  const registry = new SchemaRegistry({ url, compile: s => s, failureTtlMs: 30_000, now: () => now })
  await registry.prepare(new Set([7]))
  assert.ok(registry.get(7) instanceof SchemaFailure)
  assert.equal((registry.get(7) as SchemaFailure).reason, 'schema id 7 not found in the schema registry')

  schemas.set(7, schema(7)) // registered a moment later (or the replica caught up)
  now += 29_000
  assert.equal(registry.prepare(new Set([7])), undefined, 'within the TTL the failure stands, no request')
  assert.ok(registry.get(7) instanceof SchemaFailure)
  assert.equal(requests.get(7), 1)

  now += 1_000
  await registry.prepare(new Set([7]))
  assert.deepEqual(registry.get(7), schema(7), 'after the TTL the id is asked again')
  assert.equal(requests.get(7), 2)
  now += 10 * 60_000
  assert.equal(registry.prepare(new Set([7])), undefined, 'a schema stays cached')
  assert.equal(requests.get(7), 2)
})

test('the cache is bounded: the least recently used id is forgotten (and fetched again when it comes back)', async t => {
  const schemas = new Map(Array.from({ length: 20 }, (_, i) => [i, schema(i)] as [number, unknown]))
  const { url, requests } = await startRegistry(t, schemas)
  const registry = new SchemaRegistry({ url, compile: s => s, maxSchemas: 3 })
  for (const id of [1, 2, 3]) await registry.prepare(new Set([id]))
  assert.equal(registry.prepare(new Set([1])), undefined, '1 is cached; now the most recently used')
  await registry.prepare(new Set([4])) // forgets 2, the least recently used
  assert.equal(registry.size, 3)
  assert.equal(registry.get(2), undefined)
  assert.deepEqual([1, 3, 4].map(id => registry.get(id)), [schema(1), schema(3), schema(4)])
  for (let id = 5; id < 20; id++) await registry.prepare(new Set([id]))
  assert.equal(registry.size, 3, 'never more than maxSchemas')
  await registry.prepare(new Set([1]))
  assert.equal(requests.get(1), 2, 'a forgotten id is fetched again')
  assert.equal(requests.get(3), 1)
})

test('a batch with more ids than maxSchemas finds every one of them (the cap never evicts the batch being parsed)', async t => {
  const schemas = new Map(Array.from({ length: 10 }, (_, i) => [i, schema(i)] as [number, unknown]))
  const { url } = await startRegistry(t, schemas)
  const registry = new SchemaRegistry({ url, compile: s => s, maxSchemas: 2 })
  const ids = new Set([0, 1, 2, 3, 4, 5])
  await registry.prepare(ids)
  for (const id of ids) assert.deepEqual(registry.get(id), schema(id))
  await registry.prepare(new Set([8]))
  assert.equal(registry.size, 2)
  assert.deepEqual(registry.get(8), schema(8))
})
