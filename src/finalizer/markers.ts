/**
 * `_SUCCESS` markers: an empty object in a finalized partition's directory, as Hadoop writes it. Query engines
 * skip names starting with `_`; schedulers (Airflow sensors, Oozie) wait for it. Once written it is never
 * removed (except to undo a marker whose catalog registration failed), so a positive answer is cached for good.
 */
import { joinKey, type ObjectStore } from '../sinks/object-store.js'

export const MARKER_NAME = '_SUCCESS'

export function markerKey (prefix: string, safeTopic: string, dir: string): string {
  return joinKey(prefix, safeTopic, dir, MARKER_NAME)
}

export class Markers {
  readonly #store: ObjectStore
  readonly #known = new Set<string>()

  constructor (store: ObjectStore) {
    this.#store = store
  }

  /** One HEAD (size) per key until it is seen marked. */
  async isMarked (key: string): Promise<boolean> {
    if (this.#known.has(key)) return true
    const marked = (await this.#store.size(key)) !== null
    if (marked) this.#known.add(key)
    return marked
  }

  async mark (key: string): Promise<void> {
    await this.#store.put(key, Buffer.alloc(0), 'application/octet-stream')
    this.#known.add(key)
  }

  async unmark (key: string): Promise<void> {
    this.#known.delete(key)
    await this.#store.delete(key)
  }
}
