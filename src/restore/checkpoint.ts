/**
 * Restore progress, kept in an object store (by default the archive's own, under `_sediment/restore/`).
 *
 *   plan.json      the objects to restore, in units, in order, fixed by the first run (a restarted restore never re-lists:
 *                  objects archived meanwhile cannot shift the order or be half-restored)
 *   progress.json  { index, startOffset }: units before `index` are done; unit `index` began when its target
 *                  partition's high watermark was `startOffset` (null: not begun)
 *
 * The resume rule (see restore.ts): records of unit `index` already in Kafka = high watermark now - startOffset.
 */
import { ErrorCodes, SedimentError } from '../errors.js'
import { joinKey, type ObjectStore } from '../sinks/object-store.js'
import { safeTopicSegment } from '../stages/topic-name.js'
import type { SourceObject } from './select.js'

export interface RestorePlan {
  version: 1
  /** What was asked (source, target, range, format): a resume with other options is refused. */
  request: string
  /** Restore units in order: objects of one partition that overlap in offsets are merged (select.ts). */
  units: SourceObject[][]
  createdAt: string
}

export interface RestoreProgress {
  version: 1
  index: number
  startOffset: number | null
  updatedAt: string
}

export class CheckpointStore {
  readonly #store: ObjectStore
  readonly #dir: string

  constructor (store: ObjectStore, prefix: string, sourceTopic: string, targetTopic: string) {
    this.#store = store
    this.#dir = joinKey(prefix, '_sediment', 'restore', safeTopicSegment(sourceTopic), safeTopicSegment(targetTopic))
  }

  get location (): string {
    return `${this.#store.location}/${this.#dir}`
  }

  async loadPlan (): Promise<RestorePlan | null> {
    return await this.#read<RestorePlan>('plan.json')
  }

  async savePlan (plan: RestorePlan): Promise<void> {
    await this.#store.put(joinKey(this.#dir, 'plan.json'), Buffer.from(JSON.stringify(plan)), 'application/json')
  }

  async loadProgress (): Promise<RestoreProgress | null> {
    return await this.#read<RestoreProgress>('progress.json')
  }

  async saveProgress (index: number, startOffset: number | null): Promise<void> {
    const body: RestoreProgress = { version: 1, index, startOffset, updatedAt: new Date().toISOString() }
    await this.#store.put(joinKey(this.#dir, 'progress.json'), Buffer.from(JSON.stringify(body)), 'application/json')
  }

  async #read<T> (name: string): Promise<T | null> {
    const body = await this.#store.get(joinKey(this.#dir, name))
    if (body === null) return null
    try {
      return JSON.parse(body.toString('utf8')) as T
    } catch (err) {
      throw new SedimentError(ErrorCodes.STATE, `restore checkpoint ${this.#dir}/${name} is not JSON`, { cause: err })
    }
  }
}
