/**
 * What `verify` needs from Kafka: the group's committed offsets (with the commit metadata naming the cut's
 * intent) and the topics' watermarks. An interface so that tests and the chaos suite can share one client or
 * pass a fake; `connectKafkaOffsets` is the kafkajs admin implementation.
 */
import { Kafka, logLevel, type Admin, type KafkaConfig as KafkajsConfig } from 'kafkajs'
import type { KafkaConfig } from '../config/types.js'
import { ErrorCodes, SedimentError, errorMessage } from '../errors.js'
import { kafkajsSecurity } from '../sources/kafka-security.js'

export interface CommittedOffset {
  /** Next offset the group reads; null when the group has no commit for the partition. */
  offset: number | null
  metadata: string | null
}

export interface Watermarks {
  low: number
  high: number
}

export interface KafkaOffsets {
  /** Where the offsets come from, for the report (e.g. the bootstrap brokers). */
  readonly location: string
  /** Topic names of the cluster (used with a config's topicPattern). */
  listTopics: () => Promise<string[]>
  /** Committed offsets of `groupId`, keyed by topic, then partition. */
  committed: (groupId: string, topics: string[]) => Promise<Map<string, Map<number, CommittedOffset>>>
  /** Low and high watermarks per partition; throws when the topic does not exist. */
  watermarks: (topic: string) => Promise<Map<number, Watermarks>>
  close: () => Promise<void>
}

export interface KafkaOffsetsOptions {
  /**
   * Upper bound for each call, connection included. kafkajs retries an unreachable broker for a long time;
   * verify would rather say "unreachable" and check the bucket alone.
   */
  timeoutMs?: number
  /** Appended to the client id, so the broker's logs tell the users apart (default `verify`). */
  purpose?: string
  /** kafkajs' own retries of each request (default: 300 ms doubling to 3 s, 3 retries). */
  retry?: { initialRetryTime: number, maxRetryTime: number, retries: number }
}

/** A kafkajs admin client for the config's brokers (ssl/sasl included). Connects on first use. */
export function connectKafkaOffsets (config: Pick<KafkaConfig, 'brokers' | 'clientId' | 'ssl' | 'sasl' | 'connectionTimeoutMs'>, options: KafkaOffsetsOptions = {}): KafkaOffsets {
  const settings: KafkajsConfig = {
    clientId: `${config.clientId}-${options.purpose ?? 'verify'}`,
    brokers: [...config.brokers],
    connectionTimeout: config.connectionTimeoutMs,
    logLevel: logLevel.NOTHING,
    retry: { ...(options.retry ?? { initialRetryTime: 300, maxRetryTime: 3000, retries: 3 }) }
  }
  Object.assign(settings, kafkajsSecurity(config))
  return new KafkajsOffsets(new Kafka(settings).admin(), config.brokers.join(','), options.timeoutMs ?? 60_000)
}

class KafkajsOffsets implements KafkaOffsets {
  readonly location: string
  readonly #admin: Admin
  readonly #timeoutMs: number
  #connected: Promise<void> | undefined

  constructor (admin: Admin, location: string, timeoutMs: number) {
    this.#admin = admin
    this.location = location
    this.#timeoutMs = timeoutMs
  }

  async listTopics (): Promise<string[]> {
    return await this.#call('listing topics', async () => await this.#admin.listTopics())
  }

  async committed (groupId: string, topics: string[]): Promise<Map<string, Map<number, CommittedOffset>>> {
    const fetched = await this.#call(`fetching the committed offsets of group ${groupId}`,
      async () => await this.#admin.fetchOffsets({ groupId, topics }))
    const out = new Map<string, Map<number, CommittedOffset>>()
    for (const t of fetched) {
      const partitions = new Map<number, CommittedOffset>()
      for (const p of t.partitions) {
        const offset = Number(p.offset)
        partitions.set(p.partition, { offset: offset >= 0 ? offset : null, metadata: p.metadata ?? null })
      }
      out.set(t.topic, partitions)
    }
    return out
  }

  async watermarks (topic: string): Promise<Map<number, Watermarks>> {
    const offsets = await this.#call(`fetching the offsets of topic ${topic}`, async () => await this.#admin.fetchTopicOffsets(topic))
    return new Map(offsets.map((p) => [p.partition, { low: Number(p.low), high: Number(p.high) }]))
  }

  async close (): Promise<void> {
    // Also after a failed or timed-out connect: kafkajs may still hold a socket or a retry timer.
    await this.#admin.disconnect().catch(() => {})
  }

  async #call<T> (what: string, request: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`timed out after ${this.#timeoutMs} ms`)) }, this.#timeoutMs)
    })
    try {
      return await Promise.race([
        (async () => {
          this.#connected ??= this.#admin.connect()
          await this.#connected
          return await request()
        })(),
        timeout
      ])
    } catch (err) {
      // The next call connects again (kafkajs' connect is a no-op when connected).
      this.#connected = undefined
      throw new SedimentError(ErrorCodes.SOURCE, `${what} from ${this.location} failed: ${errorMessage(err)}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
  }
}
