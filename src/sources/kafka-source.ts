import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import {
  Kafka, logLevel as KafkaLogLevel,
  type Admin, type Batch, type Consumer, type ConsumerConfig, type EachBatchPayload, type KafkaConfig, type LogEntry
} from 'kafkajs'
import type { Logger } from 'pino'
import { ErrorCodes, FencedError, SedimentError, errorMessage, isKafkaFencingError } from '../errors.js'
import { retry } from '../retry.js'
import type { AssignedPartition, KafkaRecord, OffsetCommitter, PipelineItem, RecordBatch, TopicPartition } from '../types.js'

export interface KafkaSourceOptions {
  brokers: string[]
  groupId: string
  clientId?: string
  /** Exactly one of topics / topicPattern. */
  topics?: string[]
  topicPattern?: RegExp | string
  /** Where a partition without a committed offset starts. Default 'earliest'. */
  autoOffsetReset?: 'earliest' | 'latest'
  sessionTimeoutMs?: number
  heartbeatIntervalMs?: number
  rebalanceTimeoutMs?: number
  maxBytesPerPartition?: number
  connectionTimeoutMs?: number
  ssl?: KafkaConfig['ssl']
  sasl?: KafkaConfig['sasl']
  logger: Logger
  /** Batches buffered ahead of the next stage before the source stops fetching. Default 4. */
  highWaterMark?: number
  /**
   * With topicPattern: how often to look for new matching topics (ms; default 60000, 0 = never). A new match
   * ends this source's input like a shutdown does (flush, commit) and sets `topicsChanged`, so that the owner
   * restarts it with a subscription that includes the new topics (kafkajs resolves a pattern once, at subscribe).
   */
  topicRefreshMs?: number
}

/**
 * The Kafka source: where records enter the pipeline. A kafkajs consumer-group member exposed as an
 * object-mode Readable of RecordBatch items (one Kafka partition's fetch each), with an AssignmentEvent in
 * front of the data of every new group generation.
 *
 * Backpressure: when `push()` returns false, the eachBatch handler does not return until the next stage
 * reads again — kafkajs fetches nothing more meanwhile — and keeps heartbeating so the group stays stable.
 *
 * Offsets: kafkajs never commits on its own (autoCommit off). The sink commits through `commit()`, which
 * refuses when the partition may have changed owner since the data was read (see OffsetCommitter).
 *
 * Events (for metrics): 'assignment' (AssignmentEvent) as each one is pushed, 'fetch' (FetchInfo) per batch
 * pushed, 'pause' / 'resume' around backpressure waits.
 */
export class KafkaSource extends Readable implements OffsetCommitter {
  readonly #o: Required<Pick<KafkaSourceOptions, 'groupId' | 'autoOffsetReset' | 'heartbeatIntervalMs'>> & KafkaSourceOptions
  readonly #log: Logger
  readonly #kafka: Kafka
  readonly #consumer: Consumer
  readonly #admin: Admin
  #epoch = 0
  /** Settles once the current epoch's AssignmentEvent is pushed; batches wait for it. */
  #assignmentReady: Promise<void> = Promise.resolve()
  /** Next offset we expect per partition (from the committed offset, then from what we pushed). */
  #expected = new Map<string, number>()
  /** Partitions already re-positioned once this epoch (see #gapGuard). */
  #sought = new Set<string>()
  #wantRead = true
  #readWaiters: Array<() => void> = []
  #ending = false
  #closed = false
  #running = false
  #pendingCommits = new Map<string, () => void>()
  #assignedTopics: string[] = []
  #resolveStart: ((assigned: AssignedPartition) => Promise<number | null>) | undefined
  #paused = false
  /** How often downstream backpressure held the consumer (for tests and metrics). */
  pauses = 0
  /** Set when input ended because new topics match topicPattern: the owner should start a new source. */
  topicsChanged = false
  #topicTimer: NodeJS.Timeout | undefined

  constructor (options: KafkaSourceOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? 4 })
    if ((options.topics === undefined) === (options.topicPattern === undefined)) {
      throw new SedimentError(ErrorCodes.CONFIG, 'kafka source: exactly one of topics or topicPattern is required')
    }
    this.#o = { autoOffsetReset: 'earliest', heartbeatIntervalMs: 3000, ...options }
    this.#log = options.logger.child({ component: 'source' })
    const kafkaLog = options.logger.child({ component: 'kafkajs' })
    const config: KafkaConfig = {
      clientId: options.clientId ?? 'sediment',
      brokers: [...options.brokers],
      connectionTimeout: options.connectionTimeoutMs ?? 10_000,
      logLevel: KafkaLogLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const { message, ...extra } = entry.log
        const fields = { ...extra, namespace: entry.namespace }
        if (entry.level <= KafkaLogLevel.ERROR) kafkaLog.error(fields, message)
        else if (entry.level === KafkaLogLevel.WARN) kafkaLog.warn(fields, message)
        else kafkaLog.debug(fields, message)
      },
      // kafkajs' own retries stay short (≈10 s): beyond that our loops retry forever, with clear logs
      retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 5 }
    }
    if (options.ssl !== undefined && options.ssl !== false) config.ssl = options.ssl
    if (options.sasl !== undefined) config.sasl = options.sasl
    this.#kafka = new Kafka(config)
    const consumerConfig: ConsumerConfig = {
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.#o.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? 60_000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
      // kafkajs holds whole fetch responses in memory (10 MiB by default): a smaller cap keeps RSS down
      // without starving a partition, since each still gets up to maxBytesPerPartition.
      maxBytes: Math.max(options.maxBytesPerPartition ?? 1024 * 1024, 4 * 1024 * 1024),
      // kafkajs heartbeats only between fetches, and an idle fetch waits this long at the broker: keep it well
      // inside the session timeout so a quiet topic does not cost the membership.
      maxWaitTimeInMs: Math.min(5000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 3)),
      allowAutoTopicCreation: false
    }
    this.#consumer = this.#kafka.consumer(consumerConfig)
    this.#admin = this.#kafka.admin()
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, (e) => { this.#onJoin(e.payload.memberAssignment) })
    this.#consumer.on(this.#consumer.events.COMMIT_OFFSETS, (e) => {
      for (const t of e.payload.topics) {
        for (const p of t.partitions) this.#pendingCommits.get(commitToken(t.topic, p.partition, p.offset))?.()
      }
    })
    this.#consumer.on(this.#consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload
      this.#log.error({ err: errorMessage(error), restart }, 'kafka consumer crashed')
      if (!restart) this.destroy(new SedimentError(ErrorCodes.SOURCE, `kafka consumer stopped: ${errorMessage(error)}`, { cause: error }))
    })
  }

  setStartResolver (resolve: (assigned: AssignedPartition) => Promise<number | null>): void {
    this.#resolveStart = resolve
  }

  get epoch (): number {
    return this.#epoch
  }

  get paused (): boolean {
    return this.#paused
  }

  /** Connects (retrying with backoff while the brokers are unreachable) and starts consuming. */
  async start (options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal
    await retry(async () => {
      // kafkajs retries a connect internally for a while; a shutdown must not wait for that.
      await abortable(async () => {
        await this.#admin.connect()
        await this.#consumer.connect()
      }, signal, async () => { await this.close() })
    }, {
      initialDelayMs: 500,
      maxDelayMs: 15_000,
      stop: () => options.signal?.aborted === true || this.destroyed ? new SedimentError(ErrorCodes.SHUTDOWN, 'stopped while connecting to Kafka') : undefined,
      onRetry: (err, attempt, delayMs) => {
        if (signal?.aborted === true) return
        this.#log.error({ brokers: this.#o.brokers, attempt, retryInMs: delayMs, err: errorMessage(err) }, 'cannot reach Kafka, retrying')
      }
    })
    const pattern = this.#o.topicPattern
    const regex = pattern === undefined ? undefined : typeof pattern === 'string' ? new RegExp(pattern) : pattern
    // Listed before subscribing: a topic created in between is then seen as new (one needless restart) rather
    // than missed.
    const matching = regex === undefined ? undefined : await this.#matchingTopics(regex).catch(() => undefined)
    const topics = regex !== undefined ? [regex] : [...(this.#o.topics ?? [])]
    await this.#consumer.subscribe({ topics, fromBeginning: this.#o.autoOffsetReset === 'earliest' })
    if (regex !== undefined && matching !== undefined) this.#watchTopics(regex, matching)
    this.#running = true
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => { await this.#onBatch(payload) }
    })
    this.#log.info({ groupId: this.#o.groupId, topics: topics.map(String) }, 'consuming')
  }

  /**
   * Stops reading and ends the stream, leaving the group membership in place so the sink can still commit
   * what it flushes on end. Call close() after the pipeline has finished.
   */
  endInput (): void {
    if (this.#ending) return
    this.#ending = true
    if (this.#running && this.#assignedTopics.length > 0) this.#consumer.pause(this.#assignedTopics.map((topic) => ({ topic })))
    this.#wake()
    this.push(null)
  }

  /** Leaves the group and disconnects. */
  async close (): Promise<void> {
    clearInterval(this.#topicTimer)
    this.#closed = true
    this.#running = false
    this.#ending = true
    this.#wake()
    await this.#consumer.disconnect().catch((err: unknown) => { this.#log.warn({ err: errorMessage(err) }, 'consumer disconnect failed') })
    await this.#admin.disconnect().catch(() => {})
  }

  async #matchingTopics (regex: RegExp): Promise<Set<string>> {
    const all = await this.#admin.listTopics()
    return new Set(all.filter(topic => regex.test(topic)))
  }

  #watchTopics (regex: RegExp, subscribed: Set<string>): void {
    const every = this.#o.topicRefreshMs ?? 60_000
    if (every <= 0) return
    let busy = false
    this.#topicTimer = setInterval(() => {
      if (busy || this.#ending) return
      busy = true
      this.#matchingTopics(regex).then((now) => {
        const added = [...now].filter(topic => !subscribed.has(topic))
        if (added.length === 0 || this.#ending) return
        this.#log.info({ added, topicPattern: regex.source }, 'new topics match the pattern; restarting the consumer to subscribe to them')
        this.topicsChanged = true
        clearInterval(this.#topicTimer)
        this.endInput()
      }, (err: unknown) => {
        this.#log.warn({ err: errorMessage(err) }, 'cannot list topics to look for new matches; trying again later')
      }).finally(() => { busy = false })
    }, every)
    this.#topicTimer.unref()
  }

  async commit (tp: TopicPartition, offset: number, metadata: string, epoch: number): Promise<void> {
    if (epoch !== this.#epoch) throw new FencedError(`${tp.topic}[${tp.partition}] changed owner before commit`)
    const token = commitToken(tp.topic, tp.partition, String(offset))
    let seen = false
    this.#pendingCommits.set(token, () => { seen = true })
    try {
      await this.#consumer.commitOffsets([{ topic: tp.topic, partition: tp.partition, offset: String(offset), metadata }])
    } catch (err) {
      if (isKafkaFencingError(err)) throw new FencedError(`commit refused: ${errorMessage(err)}`, { cause: err })
      throw new SedimentError(ErrorCodes.COMMIT, `commit failed: ${errorMessage(err)}`, { cause: err })
    } finally {
      this.#pendingCommits.delete(token)
    }
    // kafkajs generation-stamps the commit when it sends it; a rejoin meanwhile could have re-stamped a retry.
    if (epoch !== this.#epoch) throw new FencedError('group rejoined while committing', { definite: false })
    // kafkajs resolves without committing when its runner is stopping: only its event proves the commit.
    if (!seen) throw new SedimentError(ErrorCodes.COMMIT, 'commit was not performed (consumer not running)')
  }

  override _read (): void {
    this.#wantRead = true
    this.#wake()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.#ending = true
    this.#wake()
    // On a normal end the group membership must outlive the stream: the sink commits its final cut after the
    // source has ended. The owner calls close() once the pipeline is done; only a failure disconnects here.
    if (err === null) {
      callback(null)
      return
    }
    this.close().then(() => { callback(err) }, () => { callback(err) })
  }

  #wake (): void {
    const waiters = this.#readWaiters
    this.#readWaiters = []
    for (const w of waiters) w()
  }

  #onJoin (assignment: Record<string, number[]>): void {
    const epoch = ++this.#epoch
    this.#sought.clear()
    this.#expected = new Map()
    const topics = Object.keys(assignment)
    this.#assignedTopics = topics
    this.#assignmentReady = (async () => {
      const committed = new Map<string, { offset: number | null, metadata: string | null }>()
      if (topics.length > 0) {
        const fetched = await retry(async () => await this.#admin.fetchOffsets({ groupId: this.#o.groupId, topics }), {
          maxAttempts: 20,
          stop: () => this.#closed || epoch !== this.#epoch ? new SedimentError(ErrorCodes.SHUTDOWN, 'assignment superseded') : undefined,
          onRetry: (err) => { this.#log.warn({ err: errorMessage(err) }, 'fetching committed offsets failed, retrying') }
        })
        for (const t of fetched) {
          for (const p of t.partitions) {
            const offset = Number(p.offset)
            committed.set(tpKey(t.topic, p.partition), { offset: offset >= 0 ? offset : null, metadata: p.metadata ?? null })
          }
        }
      }
      if (epoch !== this.#epoch) return // a newer join superseded this one
      const partitions: AssignedPartition[] = []
      for (const [topic, ps] of Object.entries(assignment)) {
        for (const partition of ps) {
          const c = committed.get(tpKey(topic, partition)) ?? { offset: null, metadata: null }
          partitions.push({ topic, partition, committedOffset: c.offset, metadata: c.metadata })
        }
      }
      const resolve = this.#resolveStart
      if (resolve !== undefined) {
        await Promise.all(partitions.map(async (p) => {
          // Needs the object store (it lists manifests): while that is unreachable, reading this partition waits.
          p.committedOffset = await retry(async () => await resolve(p), {
            maxDelayMs: 15_000,
            stop: () => this.#closed || epoch !== this.#epoch ? new SedimentError(ErrorCodes.SHUTDOWN, 'assignment superseded') : undefined,
            onRetry: (err, attempt, delayMs) => {
              this.#log.error({ topic: p.topic, partition: p.partition, attempt, retryInMs: delayMs, err: errorMessage(err) }, 'cannot read the start position from the object store, retrying')
            }
          })
        }))
        if (epoch !== this.#epoch) return
      }
      for (const p of partitions) {
        if (p.committedOffset !== null) this.#expected.set(tpKey(p.topic, p.partition), p.committedOffset)
      }
      this.#log.info({ epoch, partitions: partitions.map((p) => `${p.topic}[${p.partition}]@${p.committedOffset ?? 'none'}`) }, 'partitions assigned')
      if (!this.#ending) {
        const event = { kind: 'assignment', epoch, partitions } satisfies PipelineItem
        this.push(event)
        this.emit('assignment', event)
      }
    })()
    this.#assignmentReady.catch((err: unknown) => {
      if (this.#closed || epoch !== this.#epoch) return
      this.destroy(new SedimentError(ErrorCodes.SOURCE, `cannot read committed offsets: ${errorMessage(err)}`, { cause: err }))
    })
  }

  async #onBatch ({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    await this.#assignmentReady
    if (this.#ending || !isRunning() || isStale() || batch.isEmpty()) return
    const key = tpKey(batch.topic, batch.partition)
    const expected = this.#expected.get(key)
    const first = Number(batch.firstOffset() ?? batch.messages[0]?.offset)
    if (expected !== undefined && first > expected && !this.#sought.has(key)) {
      // A batch starting past the committed offset was fetched before the group rejoined. Re-read from the
      // commit once; if the broker still starts later, those offsets no longer exist (compaction, retention).
      this.#sought.add(key)
      this.#log.info({ topic: batch.topic, partition: batch.partition, first, expected }, 're-reading from the committed offset')
      this.#consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(expected) })
      return
    }
    const out = toRecordBatch(batch, this.#epoch, expected)
    const last = batch.messages[batch.messages.length - 1]
    if (out === null) {
      if (last !== undefined) resolveOffset(last.offset)
      return
    }
    this.#sought.add(key)
    this.#expected.set(key, out.nextOffset)
    const more = this.push(out)
    this.emit('fetch', { topic: out.topic, partition: out.partition, messages: out.records.length, bytes: out.rawBytes } satisfies FetchInfo)
    resolveOffset(String(out.nextOffset - 1))
    if (!more) await this.#waitForRead(heartbeat, isRunning, isStale)
  }

  /** Holds eachBatch (so kafkajs fetches nothing more) until the next stage reads again, heartbeating. */
  async #waitForRead (heartbeat: () => Promise<void>, isRunning: () => boolean, isStale: () => boolean): Promise<void> {
    this.#wantRead = false
    this.#paused = true
    this.pauses++
    this.emit('pause')
    try {
      while (!this.#wantRead && !this.#ending && isRunning() && !isStale()) {
        const woke = new Promise<void>((resolve) => { this.#readWaiters.push(resolve) })
        await Promise.race([woke, sleep(this.#o.heartbeatIntervalMs)])
        await heartbeat() // throws on rebalance: kafkajs then rejoins, which is what we want
      }
    } finally {
      this.#paused = false
      this.emit('resume')
    }
  }
}

/** What the source read from one partition in one batch (its 'fetch' event). */
export interface FetchInfo extends TopicPartition {
  messages: number
  /** Bytes of the message values. */
  bytes: number
}

/** Runs `fn`, but rejects as soon as `signal` aborts (then runs `onAbort` to release what `fn` holds). */
async function abortable (fn: () => Promise<void>, signal: AbortSignal | undefined, onAbort: () => Promise<void>): Promise<void> {
  if (signal === undefined) return await fn()
  if (signal.aborted) throw new SedimentError(ErrorCodes.SHUTDOWN, 'stopped while connecting to Kafka')
  let listener: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    listener = () => {
      onAbort().catch(() => {})
      reject(new SedimentError(ErrorCodes.SHUTDOWN, 'stopped while connecting to Kafka'))
    }
    signal.addEventListener('abort', listener, { once: true })
  })
  const work = fn()
  work.catch(() => {})
  try {
    await Promise.race([work, aborted])
  } finally {
    if (listener !== undefined) signal.removeEventListener('abort', listener)
  }
}

function tpKey (topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

function commitToken (topic: string, partition: number, offset: string): string {
  return `${topic}\u0000${partition}\u0000${offset}`
}


/** Converts a kafkajs batch, skipping messages before `from` (already handled). Null when nothing is left. */
function toRecordBatch (batch: Batch, epoch: number, from: number | undefined): RecordBatch | null {
  const records: KafkaRecord[] = []
  let rawBytes = 0
  for (const m of batch.messages) {
    const offset = Number(m.offset)
    if (!Number.isSafeInteger(offset)) throw new SedimentError(ErrorCodes.SOURCE, `offset ${m.offset} is beyond 2^53`)
    if (from !== undefined && offset < from) continue
    const value = m.value ?? null
    rawBytes += value === null ? 0 : value.length
    records.push({
      offset,
      key: m.key ?? null,
      value,
      timestamp: Number(m.timestamp),
      headers: (m.headers ?? {}) as KafkaRecord['headers']
    })
  }
  const first = records[0]
  const last = records[records.length - 1]
  if (first === undefined || last === undefined) return null
  return {
    kind: 'batch',
    topic: batch.topic,
    partition: batch.partition,
    epoch,
    firstOffset: first.offset,
    nextOffset: last.offset + 1,
    rawBytes,
    records
  }
}

export function kafkaSource (options: KafkaSourceOptions): KafkaSource {
  return new KafkaSource(options)
}
