import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import {
  Kafka, logLevel as KafkaLogLevel,
  type Admin, type Batch, type Consumer, type ConsumerConfig, type EachBatchPayload, type KafkaConfig
} from 'kafkajs'
import type { Logger } from 'pino'
import { ErrorCodes, FencedError, SedimentError, errorMessage } from '../errors.js'
import { commitFailure } from '../sinks/commit-protocol.js'
import { retry } from '../retry.js'
import type { AssignedPartition, AssignmentEvent, KafkaRecord, OffsetCommitter, RecordBatch, SkippedRange, TopicPartition } from '../types.js'
import { kafkajsLogCreator } from '../ops/kafkajs-log.js'
import { LogReplacedError, checkStart, expiredBetween, type SkippedEvent, type StoppedEvent, type Watermarks } from './log-continuity.js'

export interface KafkaSourceOptions {
  brokers: string[]
  groupId: string
  clientId?: string
  /** Exactly one of topics / topicPattern. */
  topics?: string[]
  topicPattern?: RegExp | string
  /** Where a partition without a committed offset starts. Default 'earliest'. */
  autoOffsetReset?: 'earliest' | 'latest'
  /**
   * Transactional topics. read_committed (default): aborted records are skipped and nothing of an open
   * transaction is read. read_uncommitted: every record, aborted ones included.
   */
  isolationLevel?: 'read_committed' | 'read_uncommitted'
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
  /** Offsets lost to retention, to be carried on the partition's next batch (then into its cut's manifest). */
  #skips = new Map<string, SkippedRange[]>()
  /** Partitions stopped this epoch (their log is not the archived one): nothing of theirs is pushed. */
  #stoppedParts = new Set<string>()
  #wantRead = true
  #readWaiters: Array<() => void> = []
  #ending = false
  #closed = false
  #running = false
  #pendingCommits = new Map<string, () => void>()
  #assignedTopics: string[] = []
  #resolveStart: ((assigned: AssignedPartition) => Promise<number | null>) | undefined
  #carryOver = false
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
      logCreator: kafkajsLogCreator(kafkaLog),
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
      allowAutoTopicCreation: false,
      readUncommitted: options.isolationLevel === 'read_uncommitted'
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

  enableCarryOver (): void {
    this.#carryOver = true
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
    // Always from the beginning: kafkajs applies this default also when a committed offset is out of range
    // (retention), where "latest" would silently skip everything in between. autoOffsetReset 'latest' for
    // partitions that never had an offset is applied on assignment instead (#onJoin).
    await this.#consumer.subscribe({ topics, fromBeginning: true })
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
      throw commitFailure(err) // a fencing answer may follow a timed-out attempt that landed: never definite
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
    this.#skips.clear()
    this.#expected = new Map()
    const stoppedBefore = this.#stoppedParts
    this.#stoppedParts = new Set()
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
      const kept = await this.#checkLogs(partitions, epoch, stoppedBefore)
      if (epoch !== this.#epoch) return
      partitions.splice(0, partitions.length, ...kept)
      for (const p of partitions) {
        const key = tpKey(p.topic, p.partition)
        // #checkLogs may have moved reading past the commit (offsets deleted by retention)
        if (p.committedOffset !== null && !this.#expected.has(key)) this.#expected.set(key, p.committedOffset)
      }
      this.#log.info({ epoch, partitions: partitions.map((p) => `${p.topic}[${p.partition}]@${p.committedOffset ?? 'none'}`) }, 'partitions assigned')
      if (!this.#ending) {
        const event: AssignmentEvent = { kind: 'assignment', epoch, partitions }
        const carried = this.#carryOver ? this.#offerCarryOver(event) : undefined
        this.push(event)
        this.emit('assignment', event)
        await carried
      }
    })()
    this.#assignmentReady.catch((err: unknown) => {
      if (this.#closed || epoch !== this.#epoch) return
      this.destroy(new SedimentError(ErrorCodes.SOURCE, `cannot read committed offsets: ${errorMessage(err)}`, { cause: err }))
    })
  }

  /**
   * A rejoin need not throw away what the sink holds of a partition it keeps (a group that rebalances more often
   * than maxFileAgeSeconds would never commit): once the sink has seen all data of the previous epoch, it names
   * the partitions whose open files it keeps and where they end, and this epoch reads those from there. Reading
   * waits for that answer (the sink gets the event after the data in flight), at most a third of the session
   * timeout (no heartbeats meanwhile); an answer after that is refused and the sink keeps nothing.
   */
  #offerCarryOver (event: AssignmentEvent): Promise<void> {
    let answered: () => void = () => {}
    const answer = new Promise<void>((resolve) => { answered = resolve })
    let open = true
    event.carryOver = (kept) => {
      if (!open || event.epoch !== this.#epoch) return false
      open = false
      for (const k of kept) {
        const key = tpKey(k.topic, k.partition)
        const from = this.#expected.get(key)
        this.#expected.set(key, k.nextOffset)
        // saves fetching again what the sink holds; without it, #onBatch skips those records anyway
        if (from !== undefined && k.nextOffset > from) {
          try {
            this.#consumer.seek({ topic: k.topic, partition: k.partition, offset: String(k.nextOffset) })
          } catch (err) {
            this.#log.debug({ topic: k.topic, partition: k.partition, err: errorMessage(err) }, 'seek to the carried-over offset failed')
          }
        }
      }
      if (kept.length > 0) this.#log.info({ epoch: event.epoch, kept: kept.map((k) => `${k.topic}[${k.partition}]@${k.nextOffset}`) }, 'partitions carried over with their open files')
      answered()
      return true
    }
    const limit = Math.floor((this.#o.sessionTimeoutMs ?? 30_000) / 3)
    return Promise.race([answer, sleep(limit, undefined, { ref: false })]).then(() => {
      if (open) this.#log.warn({ epoch: event.epoch, waitedMs: limit }, 'the sink did not take the assignment in time; its open files are dropped')
      open = false
    })
  }

  async #onBatch ({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    await this.#assignmentReady
    if (this.#ending || !isRunning() || isStale() || batch.isEmpty()) return
    const key = tpKey(batch.topic, batch.partition)
    if (this.#stoppedParts.has(key)) return
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
    if (expected !== undefined && first > expected) {
      // Still past the expected offset after the re-read: kafkajs reset an out-of-range offset to the log
      // start. What lies below the log start was deleted by retention before we archived it: count it.
      const epoch = this.#epoch
      const low = await this.#logStart(batch.topic, batch.partition)
      if (epoch !== this.#epoch || !isRunning() || isStale()) return
      const lost = expiredBetween(expected, first, low ?? first)
      if (lost !== null) this.#skipped(batch.topic, batch.partition, lost)
    }
    const out = toRecordBatch(batch, this.#epoch, expected)
    const last = batch.messages[batch.messages.length - 1]
    if (out === null) {
      if (last !== undefined) resolveOffset(last.offset)
      return
    }
    const skipped = this.#skips.get(key)
    if (skipped !== undefined) {
      out.skipped = skipped
      this.#skips.delete(key)
    }
    this.#sought.add(key)
    this.#expected.set(key, out.nextOffset)
    const more = this.push(out)
    this.emit('fetch', { topic: out.topic, partition: out.partition, messages: out.records.length, bytes: out.rawBytes } satisfies FetchInfo)
    resolveOffset(String(out.nextOffset - 1))
    if (!more) await this.#waitForRead(heartbeat, isRunning, isStale)
  }

  /**
   * Checks each assigned partition's log against where the archive resumes (log-continuity.ts): stops the
   * partitions whose log was replaced, moves past offsets retention deleted (counting them), and applies
   * autoOffsetReset 'latest' to partitions that never had an offset. Returns the partitions to read.
   */
  async #checkLogs (partitions: AssignedPartition[], epoch: number, stoppedBefore: Set<string>): Promise<AssignedPartition[]> {
    if (partitions.length === 0) return partitions
    const marks = new Map<string, Watermarks>()
    for (const topic of new Set(partitions.map((p) => p.topic))) {
      const offsets = await retry(async () => await this.#admin.fetchTopicOffsets(topic), {
        maxAttempts: 20,
        stop: () => this.#closed || epoch !== this.#epoch ? new SedimentError(ErrorCodes.SHUTDOWN, 'assignment superseded') : undefined,
        onRetry: (err) => { this.#log.warn({ topic, err: errorMessage(err) }, 'reading the partitions\' watermarks failed, retrying') }
      })
      for (const o of offsets) marks.set(tpKey(topic, o.partition), { low: Number(o.low), high: Number(o.high) })
    }
    if (epoch !== this.#epoch) return []
    const kept: AssignedPartition[] = []
    for (const p of partitions) {
      const key = tpKey(p.topic, p.partition)
      const w = marks.get(key)
      if (w === undefined) {
        kept.push(p)
        continue
      }
      const check = checkStart(p.committedOffset, w)
      // The admin's "high" is the last stable offset (ListOffsets read_committed): a read_uncommitted reader may
      // legitimately have committed past it while a transaction is open, so only read_committed can tell.
      if (check.kind === 'new-log' && this.#o.isolationLevel !== 'read_uncommitted') {
        const error = new LogReplacedError(p, check.start, check.high)
        this.#log.error({ topic: p.topic, partition: p.partition, code: error.code, resumeAt: check.start, high: check.high }, error.message)
        this.#stoppedParts.add(key)
        this.#consumer.pause([{ topic: p.topic, partitions: [p.partition] }])
        this.emit('stopped', { topic: p.topic, partition: p.partition, reason: 'new-log', error } satisfies StoppedEvent)
        continue
      }
      if (stoppedBefore.has(key)) this.#consumer.resume([{ topic: p.topic, partitions: [p.partition] }])
      if (check.kind === 'expired') {
        // Read on from the log start; the sink's cut still starts at the commit, with the hole recorded.
        this.#skipped(p.topic, p.partition, check.skipped)
        this.#consumer.seek({ topic: p.topic, partition: p.partition, offset: String(w.low) })
        this.#expected.set(key, w.low)
      } else if (p.committedOffset === null && this.#o.autoOffsetReset === 'latest') {
        p.committedOffset = w.high
        this.#consumer.seek({ topic: p.topic, partition: p.partition, offset: String(w.high) })
      }
      kept.push(p)
    }
    return kept
  }

  /** The partition's log start offset, or null when it cannot be read now. */
  async #logStart (topic: string, partition: number): Promise<number | null> {
    try {
      const offsets = await this.#admin.fetchTopicOffsets(topic)
      const o = offsets.find((x) => x.partition === partition)
      return o === undefined ? null : Number(o.low)
    } catch (err) {
      this.#log.warn({ topic, partition, err: errorMessage(err) }, 'cannot read the log start offset')
      return null
    }
  }

  /** Records offsets lost to retention: error log, 'skipped' event (metric), and on the partition's next batch. */
  #skipped (topic: string, partition: number, range: SkippedRange): void {
    const key = tpKey(topic, partition)
    this.#log.error({ topic, partition, from: range.from, to: range.to, lost: range.to - range.from },
      'offsets were deleted by retention before they were archived; continuing after them (the gap is recorded in the manifest)')
    const pending = this.#skips.get(key) ?? []
    pending.push(range)
    this.#skips.set(key, pending)
    this.emit('skipped', { topic, partition, ...range } satisfies SkippedEvent)
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


/**
 * Converts a kafkajs batch, skipping messages before `from` (already handled). Null when nothing is left.
 * `nextOffset` is the fetch's end, not the last data record + 1: a transaction's marker (a control record, which
 * kafkajs never hands out) or aborted records at the end of the fetch are passed too, so a committed offset
 * can reach the partition's end. Nothing past what the fetch returned is covered.
 */
export function toRecordBatch (batch: Batch, epoch: number, from: number | undefined): RecordBatch | null {
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
    nextOffset: Math.max(last.offset, fetchEnd(batch)) + 1,
    rawBytes,
    records
  }
}

export function kafkaSource (options: KafkaSourceOptions): KafkaSource {
  return new KafkaSource(options)
}

/** The last offset the fetch returned, control and aborted records included (kafkajs' lastOffset). */
function fetchEnd (batch: Batch): number {
  const end = Number(batch.lastOffset())
  return Number.isSafeInteger(end) ? end : -1
}
