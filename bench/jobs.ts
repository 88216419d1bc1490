/** What the orchestrator (main.ts) asks a worker process (worker.ts) to measure, and what comes back over IPC. */
import type { DataSpec } from './data.js'

export interface S3Target {
  endpoint: string
  bucket: string
  credentials: { accessKeyId: string, secretAccessKey: string }
}

/** The output the Sediment pipeline writes (default JSON lines + gzip -6, the service's default). */
export interface OutputSettings {
  format: 'jsonl' | 'parquet'
  compression: 'gzip' | 'zstd' | 'snappy'
  level?: number
}

export interface SinkSettings {
  maxFileBytes: number
  maxFileAgeSeconds: number
  partSizeBytes?: number
}

interface JobBase {
  /** The worker gives up (and reports what it has) after this long. */
  timeoutMs: number
  progressMs: number
  /** When set (profiling), the worker writes the source maps of the TypeScript it loaded to this file. */
  sourceMapsOut?: string
}

/** The Sediment pipeline end to end: Kafka → parse → partition → gzip → S3 (s3rver), until all is committed. */
export interface SedimentJob extends JobBase {
  kind: 'sediment'
  brokers: string[]
  topic: string
  groupId: string
  /** Messages in the topic: the run ends once all were read and the final cuts committed. */
  expected: number
  s3: S3Target
  prefix: string
  sink: SinkSettings
  output?: OutputSettings
}

/** The service (config + runSediment, as the CLI runs it) with `workers` pipelines, until everything is committed. */
export interface ServiceJob extends JobBase {
  kind: 'service'
  brokers: string[]
  topic: string
  groupId: string
  expected: number
  s3: S3Target
  prefix: string
  sink: SinkSettings
  workers: number
}

/** Baseline: a kafkajs consumer group whose eachBatch does nothing (the source's ceiling). */
export interface KafkajsJob extends JobBase {
  kind: 'kafkajs-raw'
  brokers: string[]
  topic: string
  groupId: string
  expected: number
}

/** In-memory source → parse → partition → gzip → null sink: the stages alone, no Kafka, no store. */
export interface StagesJob extends JobBase {
  kind: 'stages'
  data: DataSpec
  /** Raw bytes per batch (per Kafka partition fetch), like kafkajs's maxBytesPerPartition. */
  batchBytes: number
  output?: OutputSettings
}

/** The sink alone: one file of `fileBytes` fed into an ObjectSink on S3 (s3rver); time from cut to commit. */
export interface SinkCutJob extends JobBase {
  kind: 'sink-cut'
  s3: S3Target
  fileBytes: number
  chunkBytes: number
  /** paced: each chunk waits until the uploads have caught up (data arriving no faster than it uploads);
   *  burst: the whole file is written at once, so the cut also waits for most of the upload. */
  mode: 'paced' | 'burst'
}

export type Job = SedimentJob | ServiceJob | KafkajsJob | StagesJob | SinkCutJob

export interface WorkerResult {
  messages: number
  /** Message value bytes read (the input). */
  inputBytes: number
  /** From the first batch read (after the group join) to the end (everything committed / consumed). */
  elapsedMs: number
  /** CPU seconds of the worker process over the same window (all threads: main, libuv pool, GC). */
  cpuSeconds: number
  /** CPU seconds of the worker over its whole life (start-up and group join included). */
  processCpuSeconds: number
  /** Wall time from the worker process's start (its time origin: module loading and group join included) to the
   *  end of the measured window. */
  sinceStartMs?: number
  /** CPU seconds of the worker (all threads) from its start to the end of the measured window. */
  cpuSinceStartSeconds?: number
  /** Peak RSS of the worker process over its whole life (VmHWM). */
  peakRssBytes: number | null
  /** Measured window on the monotonic clock (µs), to cut a CPU profile to it. */
  windowMicros: [number, number]
  /** Sediment: from the first batch until the source had read everything (the rest is the final flush). */
  readMs?: number
  /** Sediment: peak RSS (VmHWM) when the last message was read, before the end-of-input cuts. */
  peakRssAtEndOfInputBytes?: number | null
  /** Group join: from start() to the first batch (not part of elapsedMs). */
  joinMs?: number
  files?: number
  /** Compressed bytes written (object sizes). */
  bytesWritten?: number
  /** Uncompressed (encoded JSON-lines) bytes of those objects. */
  encodedBytes?: number
  commits?: number
  recordsCommitted?: number
  /** CommitEvent.durationMs of every cut: from the cut to the objects being visible. */
  cutToCommitMs?: number[]
  maxOpenFiles?: number
  maxBufferedBytes?: number
  /** Fraction of 50 ms samples during which the source was held by backpressure. */
  sourcePausedFraction?: number
  notes?: string[]
  error?: string
}

export type WorkerMessage =
  | { type: 'progress', done: number, total: number, bytes: number, extra?: string }
  | { type: 'result', result: WorkerResult }
