import { Duplex, Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { isControl, type PipelineItem } from '../types.js'

/** One chain of stages and the topics it serves. */
export interface TopicRoute {
  /** Whether this route serves a topic; the first matching route wins, the last route should match all. */
  matches: (topic: string) => boolean
  /** The route's stages, in order (e.g. parse → partition → encode built from a per-topic config). */
  stages: Transform[]
}

/**
 * Per-topic stage chains as one stage (per-topic parser, template and format overrides). Every data item goes
 * through the chain of its topic, so a Kafka partition's batches stay in order; control items (assignment,
 * flush) go through every chain and leave once, when the last chain has passed them: they then follow all data
 * that was written before them, in every chain — the order the sink relies on. Backpressure: a write completes
 * once the chain's first stage accepted it; each chain's output waits while this stage's readable side is full.
 */
export class TopicRoutes extends Duplex {
  readonly #routes: TopicRoute[]
  readonly #heads: Transform[]
  readonly #byTopic = new Map<string, number>()
  /** Per chain: the output callbacks held at a control item until every chain reached it. */
  readonly #atBarrier: Array<(() => void) | null>
  /** Control items every chain has still to deliver, in order, and how many chains delivered the first. */
  readonly #controls: PipelineItem[] = []
  #arrived = 0
  /** An output callback held because push() returned false; released by _read. */
  #pushWaiters: Array<() => void> = []
  readonly #chains: Promise<void>

  constructor (routes: TopicRoute[]) {
    super({ objectMode: true, readableHighWaterMark: 4, writableHighWaterMark: 1 })
    if (routes.length === 0) throw new Error('TopicRoutes needs at least one route')
    this.#routes = routes
    this.#heads = routes.map(r => r.stages[0] as Transform)
    this.#atBarrier = routes.map(() => null)
    this.#chains = Promise.all(routes.map((route, i) => pipeline([...route.stages, this.#tail(i)] as unknown as [Transform, Writable])))
      .then(() => { this.push(null) })
    this.#chains.catch((err: unknown) => { this.destroy(err as Error) })
  }

  override _write (item: PipelineItem, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (isControl(item)) {
      this.#controls.push(item)
      let waiting = this.#heads.length
      const done = (): void => { if (--waiting === 0) callback() }
      for (const head of this.#heads) this.#writeTo(head, item, done)
      return
    }
    this.#writeTo(this.#heads[this.#routeOf(item.topic)] as Transform, item, callback)
  }

  override _final (callback: (error?: Error | null) => void): void {
    for (const head of this.#heads) head.end()
    this.#chains.then(() => { callback() }, callback)
  }

  override _read (): void {
    const waiters = this.#pushWaiters
    this.#pushWaiters = []
    for (const w of waiters) w()
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    for (const route of this.#routes) for (const stage of route.stages) stage.destroy()
    callback(err)
  }

  #routeOf (topic: string): number {
    let i = this.#byTopic.get(topic)
    if (i === undefined) {
      i = this.#routes.findIndex(r => r.matches(topic))
      if (i === -1) i = this.#routes.length - 1
      this.#byTopic.set(topic, i)
    }
    return i
  }

  #writeTo (head: Transform, item: PipelineItem, done: () => void): void {
    if (head.write(item)) done()
    else head.once('drain', done)
  }

  /** Chain i's end: data goes out as it comes; a control item waits for the other chains (see class comment). */
  #tail (i: number): Writable {
    return new Writable({
      objectMode: true,
      highWaterMark: 1,
      write: (item: PipelineItem, _encoding, callback) => {
        if (!isControl(item)) {
          this.#emit(item, callback)
          return
        }
        this.#atBarrier[i] = callback
        if (++this.#arrived < this.#heads.length) return
        // Every chain delivered this control item: it leaves once, then all chains go on.
        this.#arrived = 0
        const control = this.#controls.shift() as PipelineItem
        const held = this.#atBarrier.splice(0, this.#atBarrier.length, ...this.#atBarrier.map(() => null))
        this.#emit(control, () => { for (const cb of held) cb?.() })
      }
    })
  }

  #emit (item: PipelineItem, callback: () => void): void {
    if (this.push(item)) callback()
    else this.#pushWaiters.push(callback)
  }
}
