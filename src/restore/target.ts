/** The Kafka side of a restore: an idempotent kafkajs producer and the admin reads the resume rule needs. */
import { setTimeout as sleep } from 'node:timers/promises'
import { Kafka, logLevel, type Admin, type KafkaConfig as KafkajsConfig, type Message, type Producer } from 'kafkajs'
import type { KafkaConfig } from '../config/types.js'
import { ErrorCodes, SedimentError, errorMessage } from '../errors.js'

export interface RestoreTarget {
  partitionCount: (topic: string) => Promise<number>
  /** The partition's high watermark (next offset). */
  highWatermark: (topic: string, partition: number) => Promise<number>
  /**
   * The high watermark once it stops moving: requests a killed predecessor left in flight may still land just
   * after it died. Read until two reads `settleMs` apart agree.
   */
  settledHighWatermark: (topic: string, partition: number) => Promise<number>
  /** Sends one batch, acks=all; resolves when acknowledged. */
  send: (topic: string, messages: Message[]) => Promise<void>
  close: () => Promise<void>
}

export interface TargetOptions {
  /** Wait between the reads of settledHighWatermark (default 1000 ms). */
  settleMs?: number
  /**
   * Default true. false only for brokers that cannot hand out producer ids: kafkajs asks the controller, and the
   * librdkafka mock reports none ("Broker 0 not found"). Sends are then not retried by kafkajs (a retried batch
   * whose first ack was lost would be written twice); restore.ts retries the object by the high-watermark rule.
   */
  idempotent?: boolean
}

export function connectTarget (config: Pick<KafkaConfig, 'brokers' | 'clientId' | 'ssl' | 'sasl' | 'connectionTimeoutMs'>, options: TargetOptions = {}): RestoreTarget {
  const settleMs = options.settleMs ?? 1000
  const idempotent = options.idempotent ?? true
  const settings: KafkajsConfig = {
    clientId: `${config.clientId}-restore`,
    brokers: [...config.brokers],
    connectionTimeout: config.connectionTimeoutMs,
    logLevel: logLevel.NOTHING
  }
  if (config.ssl) settings.ssl = true
  if (config.sasl !== undefined) settings.sasl = { ...config.sasl } as never
  const kafka = new Kafka(settings)
  // Idempotent: a retried batch is written once and in order; one request in flight keeps batches in order.
  const producer: Producer = kafka.producer({ idempotent, maxInFlightRequests: 1, allowAutoTopicCreation: false, ...(idempotent ? {} : { retry: { retries: 0 } }) })
  const admin: Admin = kafka.admin()
  let connected: Promise<void> | undefined
  const connect = async (): Promise<void> => {
    connected ??= Promise.all([producer.connect(), admin.connect()]).then(() => {})
    try {
      await connected
    } catch (err) {
      connected = undefined
      throw new SedimentError(ErrorCodes.SOURCE, `restore: cannot connect to Kafka ${config.brokers.join(',')}: ${errorMessage(err)}`, { cause: err })
    }
  }
  const high = async (topic: string, partition: number): Promise<number> => {
    await connect()
    const offsets = await admin.fetchTopicOffsets(topic)
    const p = offsets.find((o) => o.partition === partition)
    if (p === undefined) throw new SedimentError(ErrorCodes.CONFIG, `restore: ${topic} has no partition ${partition}`)
    return Number(p.high)
  }
  return {
    partitionCount: async (topic) => {
      await connect()
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] })
        return meta.topics[0]?.partitions.length ?? 0
      } catch (err) {
        throw new SedimentError(ErrorCodes.CONFIG, `restore: target topic ${topic}: ${errorMessage(err)} (create it first)`, { cause: err })
      }
    },
    highWatermark: high,
    settledHighWatermark: async (topic, partition) => {
      let last = await high(topic, partition)
      for (let i = 0; i < 30; i++) {
        await sleep(settleMs)
        const now = await high(topic, partition)
        if (now === last) return now
        last = now
      }
      throw new SedimentError(ErrorCodes.STATE, `restore: ${topic}[${partition}] keeps growing: someone else writes to the target topic`)
    },
    send: async (topic, messages) => {
      await connect()
      await producer.send({ topic, acks: -1, messages })
    },
    close: async () => {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()])
    }
  }
}
