import assert from 'node:assert/strict'
import { gunzipSync } from 'node:zlib'
import type { TestContext } from 'node:test'
import { ContainerClient } from '@azure/storage-blob'
import { AzureStore } from '../../src/sinks/azure-store.js'
import { Azurite } from '../../src/testing/azurite.js'
import type { Output } from './e2e.js'

/** Azurite with one container, stopped at the end of the test. */
export async function startAzure (t: TestContext, container: string): Promise<{ azurite: Azurite, store: AzureStore, env: Record<string, string> }> {
  const azurite = await Azurite.start()
  t.after(async () => { await azurite.stop() })
  const client = new ContainerClient(azurite.connectionString, container)
  await client.create()
  return { azurite, store: new AzureStore({ container: client }), env: { SEDIMENT_SINK_AZURE_CONNECTION_STRING: azurite.connectionString } }
}

/** Data objects under `prefix/` (not `_sediment/`), indexed like test/helpers/e2e.ts readOutput does for S3. */
export async function readAzureOutput (store: AzureStore, prefix: string): Promise<Output> {
  const out: Output = { good: new Map(), bad: new Map(), badRecords: [], objects: [] }
  for await (const { key } of store.list(`${prefix}/`)) {
    if (key.startsWith(`${prefix}/_sediment/`)) continue
    const raw = await store.get(key)
    assert.ok(raw !== null)
    out.objects.push(key)
    const text = (key.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
    const dir = key.slice(prefix.length + 1, key.lastIndexOf('/'))
    for (const line of text.split('\n')) {
      if (line === '') continue
      const rec = JSON.parse(line) as Record<string, unknown>
      if (dir.startsWith('_errors/')) {
        out.badRecords.push(rec)
        const bytes = typeof rec.valueBase64 === 'string' ? Buffer.from(rec.valueBase64, 'base64') : Buffer.from(String(rec.value))
        out.bad.set(bytes.toString('base64'), (out.bad.get(bytes.toString('base64')) ?? 0) + 1)
      } else {
        out.good.set(String(rec.id), [...(out.good.get(String(rec.id)) ?? []), dir])
      }
    }
  }
  return out
}
