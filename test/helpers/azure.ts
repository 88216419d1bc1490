import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { ContainerClient } from '@azure/storage-blob'
import { AzureStore } from '../../src/sinks/azure-store.js'
import { Azurite } from '../../src/testing/azurite.js'
import { indexOutput, type Output } from './e2e.js'

/** Azurite with one container, stopped at the end of the test. */
export async function startAzure (t: TestContext, container: string): Promise<{ azurite: Azurite, store: AzureStore, env: Record<string, string> }> {
  const azurite = await Azurite.start()
  t.after(async () => { await azurite.stop() })
  const client = new ContainerClient(azurite.connectionString, container)
  await client.create()
  return { azurite, store: new AzureStore({ container: client }), env: { SEDIMENT_SINK_AZURE_CONNECTION_STRING: azurite.connectionString } }
}

/** Data objects under `prefix/` (not `_sediment/`), indexed as test/helpers/e2e.ts readOutput does for S3. */
export async function readAzureOutput (store: AzureStore, prefix: string): Promise<Output> {
  const objects: Array<{ key: string, body: Buffer }> = []
  for await (const { key } of store.list(`${prefix}/`)) {
    if (key.startsWith(`${prefix}/_sediment/`)) continue
    const body = await store.get(key)
    assert.ok(body !== null)
    objects.push({ key, body })
  }
  return indexOutput(objects, prefix)
}
