/**
 * Every metric the service exports, defined in one place (names, help, labels) on one prom-client Registry.
 * The README's metrics table documents the same list; keep them in step.
 *
 * Label sets are bounded: `topic` and `partition` are the consumed ones, `reason` is mapped to a fixed set
 * (reason-label.ts), `op`, `output`, `outcome` are fixed enums.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export const MetricNames = {
  LAG_OFFSETS: 'sediment_consumer_lag_offsets',
  LAG_SECONDS: 'sediment_consumer_lag_seconds',
  LAG_CHECK_FAILURES: 'sediment_lag_check_failures_total',
  ASSIGNED_PARTITIONS: 'sediment_assigned_partitions',
  MESSAGES_IN: 'sediment_messages_in_total',
  BYTES_IN: 'sediment_bytes_in_total',
  BAD_RECORDS: 'sediment_bad_records_total',
  RECORDS_WRITTEN: 'sediment_records_written_total',
  BYTES_WRITTEN: 'sediment_bytes_written_total',
  FILES_WRITTEN: 'sediment_files_written_total',
  OPEN_FILES: 'sediment_open_files',
  BUFFERED_BYTES: 'sediment_buffered_bytes',
  UPLOADS_STARTED: 'sediment_uploads_started_total',
  UPLOADS_FAILED: 'sediment_uploads_failed_total',
  UPLOADS_RETRIED: 'sediment_uploads_retried_total',
  CUT_TO_COMMIT: 'sediment_cut_to_commit_seconds',
  COMMITS: 'sediment_commits_total',
  CUTS_ABANDONED: 'sediment_cuts_abandoned_total',
  EARLY_CUTS: 'sediment_early_cuts_total',
  REBALANCES: 'sediment_rebalances_total',
  CONSUMER_PAUSED: 'sediment_consumer_paused',
  PIPELINE_RESTARTS: 'sediment_pipeline_restarts_total',
  READY: 'sediment_ready',
  OPENTSDB_PUSH_FAILURES: 'sediment_opentsdb_push_failures_total',
  LATE_RECORDS: 'sediment_late_records_total',
  FILTERED_RECORDS: 'sediment_filtered_records_total',
  OFFSETS_EXPIRED: 'sediment_offsets_expired_total',
  PARTITIONS_STOPPED: 'sediment_partitions_stopped_total'
} as const

/** Store operations counted as uploads (everything that writes). */
export const UploadOps = ['create', 'part', 'complete', 'put'] as const
export type UploadOp = (typeof UploadOps)[number]

/** What the gauges read at scrape time (the current pipeline's state). */
export interface MetricsProbe {
  openFiles: () => number
  bufferedBytes: () => number
  /** Cuts given up since start: fenced (partition lost before the commit) or ambiguous (commit outcome unknown). */
  abandonedCuts: () => { fenced: number, ambiguous: number }
  /** Cuts made early since start: the memory budget was full, or a partition reached its open-file cap. */
  earlyCuts: () => { memory: number, files: number }
  paused: () => boolean
  ready: () => boolean
}

/** Seconds; a cut waits for its parts and for the previous cut of its partition, so minutes are possible. */
const CUT_TO_COMMIT_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

export class SedimentMetrics {
  readonly registry = new Registry()
  readonly lagOffsets: Gauge<'topic' | 'partition'>
  readonly lagSeconds: Gauge<'topic' | 'partition'>
  readonly lagCheckFailures: Counter
  readonly assignedPartitions: Gauge
  readonly messagesIn: Counter<'topic'>
  readonly bytesIn: Counter<'topic'>
  readonly badRecords: Counter<'topic' | 'reason'>
  readonly recordsWritten: Counter<'topic' | 'output'>
  readonly bytesWritten: Counter<'topic' | 'output'>
  readonly filesWritten: Counter<'topic' | 'output'>
  readonly uploadsStarted: Counter<'op'>
  readonly uploadsFailed: Counter<'op'>
  readonly uploadsRetried: Counter<'op'>
  readonly cutToCommit: Histogram<'reason'>
  readonly commits: Counter<'topic'>
  readonly lateRecords: Counter<'topic'>
  readonly filteredRecords: Counter<'topic'>
  readonly offsetsExpired: Counter<'topic' | 'partition'>
  readonly partitionsStopped: Counter<'topic' | 'partition' | 'reason'>
  readonly rebalances: Counter
  readonly pipelineRestarts: Counter
  readonly openTsdbPushFailures: Counter

  constructor (probe: MetricsProbe, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry]
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
    this.lagOffsets = new Gauge({
      name: MetricNames.LAG_OFFSETS,
      help: 'Offsets the consumer group has not committed yet: end offset minus committed offset, per partition this process owns.',
      labelNames: ['topic', 'partition'],
      registers
    })
    this.lagSeconds = new Gauge({
      name: MetricNames.LAG_SECONDS,
      help: 'Newest event time read from the partition minus the event-time watermark of the last commit (0 when nothing is left to commit), per partition this process owns.',
      labelNames: ['topic', 'partition'],
      registers
    })
    this.lagCheckFailures = new Counter({ name: MetricNames.LAG_CHECK_FAILURES, help: 'Lag checks that could not read offsets from Kafka.', registers })
    this.assignedPartitions = new Gauge({ name: MetricNames.ASSIGNED_PARTITIONS, help: 'Kafka partitions assigned to this process.', registers })
    this.messagesIn = new Counter({ name: MetricNames.MESSAGES_IN, help: 'Kafka messages read (re-reads after a rebalance or restart count again).', labelNames: ['topic'], registers })
    this.bytesIn = new Counter({ name: MetricNames.BYTES_IN, help: 'Bytes of Kafka message values read.', labelNames: ['topic'], registers })
    this.badRecords = new Counter({
      name: MetricNames.BAD_RECORDS,
      help: 'Messages that could not be parsed and go to the error output, by reason (as read, before they are committed).',
      labelNames: ['topic', 'reason'],
      registers
    })
    this.recordsWritten = new Counter({
      name: MetricNames.RECORDS_WRITTEN,
      help: 'Records in objects this process made visible (committed cuts), data or error output.',
      labelNames: ['topic', 'output'],
      registers
    })
    this.bytesWritten = new Counter({ name: MetricNames.BYTES_WRITTEN, help: 'Bytes (as stored, compressed) of objects this process made visible.', labelNames: ['topic', 'output'], registers })
    this.filesWritten = new Counter({ name: MetricNames.FILES_WRITTEN, help: 'Objects this process made visible.', labelNames: ['topic', 'output'], registers })
    this.uploadsStarted = new Counter({ name: MetricNames.UPLOADS_STARTED, help: 'Object-store write requests started (create multipart upload, part, complete, put).', labelNames: ['op'], registers })
    this.uploadsFailed = new Counter({ name: MetricNames.UPLOADS_FAILED, help: 'Object-store write requests that failed (each is retried while the partition is owned).', labelNames: ['op'], registers })
    this.uploadsRetried = new Counter({ name: MetricNames.UPLOADS_RETRIED, help: 'Object-store write requests that repeat a failed one.', labelNames: ['op'], registers })
    this.cutToCommit = new Histogram({
      name: MetricNames.CUT_TO_COMMIT,
      help: 'Seconds from cutting a partition\'s files to the cut being committed and visible, by cut reason.',
      labelNames: ['reason'],
      buckets: CUT_TO_COMMIT_BUCKETS,
      registers
    })
    this.commits = new Counter({ name: MetricNames.COMMITS, help: 'Offset commits (one per committed cut of a partition).', labelNames: ['topic'], registers })
    this.filteredRecords = new Counter({ name: MetricNames.FILTERED_RECORDS, help: 'Records a custom parser or transformer module filtered out (returned null).', labelNames: ['topic'], registers })
    this.offsetsExpired = new Counter({
      name: MetricNames.OFFSETS_EXPIRED,
      help: 'Offsets deleted by retention before the group archived them (lost; skipped and recorded in the manifest).',
      labelNames: ['topic', 'partition'],
      registers
    })
    this.partitionsStopped = new Counter({
      name: MetricNames.PARTITIONS_STOPPED,
      help: 'Assigned partitions this process refused to read, by reason (new-log: the topic was recreated; see the README).',
      labelNames: ['topic', 'partition', 'reason'],
      registers
    })
    this.lateRecords = new Counter({ name: MetricNames.LATE_RECORDS, help: 'Records committed into an already finalized time partition (its _SUCCESS existed); needs a finalizer section.', labelNames: ['topic'], registers })
    // Scrape-time values read through the probe: the counters below are kept by the sink itself.
    new Counter({
      name: MetricNames.CUTS_ABANDONED,
      help: 'Cuts given up: fenced (partition lost before its commit; re-read by the new owner) or ambiguous (commit outcome unknown; settled by the next owner).',
      labelNames: ['outcome'],
      registers,
      collect () {
        const a = probe.abandonedCuts()
        this.reset()
        this.inc({ outcome: 'fenced' }, a.fenced)
        this.inc({ outcome: 'ambiguous' }, a.ambiguous)
      }
    })
    new Counter({
      name: MetricNames.EARLY_CUTS,
      help: 'Cuts made before size or age asked for one: memory (upload.maxBufferedBytes full, nothing uploading) or files (a partition reached upload.maxOpenFilesPerPartition).',
      labelNames: ['reason'],
      registers,
      collect () {
        const e = probe.earlyCuts()
        this.reset()
        this.inc({ reason: 'memory' }, e.memory)
        this.inc({ reason: 'files' }, e.files)
      }
    })
    this.rebalances = new Counter({ name: MetricNames.REBALANCES, help: 'Consumer group (re)joins of this process, each with a new assignment.', registers })
    this.pipelineRestarts = new Counter({ name: MetricNames.PIPELINE_RESTARTS, help: 'Pipelines that failed and were rebuilt from the last commit.', registers })
    this.openTsdbPushFailures = new Counter({ name: MetricNames.OPENTSDB_PUSH_FAILURES, help: 'Pushes to OpenTSDB that failed.', registers })
    new Gauge({ name: MetricNames.OPEN_FILES, help: 'Output files open (being written, not yet cut).', registers, collect () { this.set(probe.openFiles()) } })
    new Gauge({ name: MetricNames.BUFFERED_BYTES, help: 'Compressed bytes held in memory, not yet uploaded.', registers, collect () { this.set(probe.bufferedBytes()) } })
    new Gauge({ name: MetricNames.CONSUMER_PAUSED, help: '1 while backpressure from the sink holds the Kafka consumer.', registers, collect () { this.set(probe.paused() ? 1 : 0) } })
    new Gauge({ name: MetricNames.READY, help: '1 when /readyz answers 200.', registers, collect () { this.set(probe.ready() ? 1 : 0) } })
    this.assignedPartitions.set(0)
    this.pipelineRestarts.inc(0)
    this.rebalances.inc(0)
    this.lagCheckFailures.inc(0)
  }
}
