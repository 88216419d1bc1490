import type { ObjectStore } from '../sinks/object-store.js'
import type { Health } from './health.js'
import type { SedimentMetrics, UploadOp } from './metrics.js'

/** Failed requests remembered to recognise their retries; beyond this the oldest are forgotten. */
const MAX_REMEMBERED_FAILURES = 10_000

/**
 * Wraps an object store to count its write requests (started, failed, retried) and to tell readiness whether
 * uploads are failing. Counting at the store rather than in the sink sees every write, including completions
 * and intents/manifests, without the sink knowing about metrics. A retry is recognised as a request for the
 * same thing (key, or upload id and part number) as one that failed.
 */
export function instrumentStore (store: ObjectStore, metrics: SedimentMetrics, health: Health): ObjectStore {
  const failed = new Set<string>()
  const track = async <T>(op: UploadOp, id: string, request: () => Promise<T>): Promise<T> => {
    metrics.uploadsStarted.inc({ op })
    if (failed.delete(id)) metrics.uploadsRetried.inc({ op })
    try {
      const result = await request()
      health.uploadSucceeded()
      return result
    } catch (err) {
      metrics.uploadsFailed.inc({ op })
      health.uploadFailed(err)
      if (failed.size >= MAX_REMEMBERED_FAILURES) failed.delete(failed.values().next().value as string)
      failed.add(id)
      throw err
    }
  }
  return {
    get location () { return store.location },
    createUpload: async (key) => await track('create', `create\u0000${key}`, async () => await store.createUpload(key)),
    uploadPart: async (key, uploadId, partNumber, body) =>
      await track('part', `part\u0000${uploadId}\u0000${partNumber}`, async () => await store.uploadPart(key, uploadId, partNumber, body)),
    completeUpload: async (key, uploadId, parts) =>
      await track('complete', `complete\u0000${uploadId}`, async () => await store.completeUpload(key, uploadId, parts)),
    put: async (key, body, contentType) => { await track('put', `put\u0000${key}`, async () => { await store.put(key, body, contentType) }) },
    abortUpload: async (key, uploadId) => { await store.abortUpload(key, uploadId) },
    get: async (key) => await store.get(key),
    size: async (key) => await store.size(key),
    delete: async (key) => { await store.delete(key) },
    list: (prefix, startAfter) => store.list(prefix, startAfter),
    listUploads: (prefix) => store.listUploads(prefix),
    close: async () => { await store.close() }
  }
}
