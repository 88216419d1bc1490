/**
 * The items that flow through a Sediment pipeline (object mode, one item = one batch of one Kafka partition,
 * or a control item). Every stage passes items it does not handle through unchanged, in order.
 *
 *   source ──RecordBatch──▶ parse ──ParsedBatch──▶ partition ──RoutedBatch──▶ encode ──EncodedBatch──▶ sink
 *
 * Control items (AssignmentEvent, FlushRequest) travel in-band so that every stage sees them in order
 * relative to the data.
 */

export interface TopicPartition {
  topic: string
  partition: number
}

/** One Kafka message as the source emits it. Offsets are numbers (safe integers are checked at the source). */
export interface KafkaRecord {
  offset: number
  key: Buffer | null
  /** null for a tombstone. */
  value: Buffer | null
  /** The Kafka record timestamp, milliseconds since the epoch. */
  timestamp: number
  headers: Record<string, Buffer | string | undefined>
}

export interface BatchBase extends TopicPartition {
  /**
   * The source's assignment epoch the batch was read under. It increases on every group (re)join; data of an
   * older epoch is stale and is dropped, because the partition may have had another owner in between.
   */
  epoch: number
  /** Offset of the first message in the batch. */
  firstOffset: number
  /** lastOffset + 1: the offset to commit once everything in this batch (and before it) is durable. */
  nextOffset: number
  /** Raw bytes of the message values, used by the upload policy. */
  rawBytes: number
  /** Largest event time (ms) among the batch's good records, once parsed; carried to the commit metadata. */
  maxEventTime?: number
  /**
   * Records a custom parser or transformer filtered out (returned null): counted here, written nowhere. Set by
   * the parse stage when > 0 and carried to the sink (for metrics).
   */
  filtered?: number
  /**
   * Offsets before this batch that no longer exist in Kafka (deleted by retention before the group read them),
   * [from, to). Set by the source on the batch that follows the hole, carried to the cut's manifest.
   */
  skipped?: SkippedRange[]
}

/** A range of offsets [from, to) the source could not read because the log no longer holds them. */
export interface SkippedRange {
  from: number
  to: number
}

export interface RecordBatch extends BatchBase {
  kind: 'batch'
  records: KafkaRecord[]
}

/**
 * A record that parsed: the bytes text formats write, its event time, and what other formats need. One Kafka
 * message is usually one record; a multi-record message yields several records with the same offset.
 */
export interface ParsedRecord {
  offset: number
  /** What line formats (JSON lines) write, without a line terminator: the message itself, or its JSON rendering. */
  value: Buffer
  /** Event time in milliseconds since the epoch. */
  timestampMs: number
  /** Values extracted by the parser that a partition template may use (`{name}`), if any. */
  fields?: Record<string, string>
  /** The record's original bytes when they differ from `value` (binary input, repaired line breaks); raw output writes `raw ?? value`. */
  raw?: Buffer
  /** The decoded record when the parser decoded one (columnar and delimited outputs use it). */
  doc?: Record<string, unknown>
  /** The Kafka message the record came from (for wrapping records with Kafka metadata). */
  kafka?: KafkaRecord
}

/** A message that could not be parsed; it goes to the error output with its reason. Nothing is dropped. */
export interface BadRecord {
  offset: number
  partition: number
  /** Kafka record timestamp (ms); also used to place the error record in time. */
  timestamp: number
  reason: string
  value: Buffer | null
}

export interface ParsedBatch extends BatchBase {
  kind: 'parsed'
  good: ParsedRecord[]
  bad: BadRecord[]
}

/** Records of one batch that go to one output file: one directory under the prefix. */
export interface OutputGroup {
  /** Directory relative to the sink prefix, e.g. `events/dt=2026-11-20/hr=07` or `_errors/events/dt=2026-11-20/hr=07`. */
  dir: string
  /** Error output (`_errors/`): always written as JSON lines, whatever the output format. */
  errors: boolean
  /** Offsets of the records in this group, ascending. */
  offsets: number[]
  /** The bytes to write for each record, without the line terminator (encoding decides framing). */
  values: Buffer[]
  /** Data groups: the parsed records, parallel to `values` (formats other than JSON lines read them). */
  records?: ParsedRecord[]
}

export interface RoutedBatch extends BatchBase {
  kind: 'routed'
  groups: OutputGroup[]
}

/** An output group after encoding and compression: a self-contained chunk (e.g. one gzip member). */
export interface EncodedGroup {
  dir: string
  /** File name extension including the dot, e.g. `.jsonl.gz`. */
  extension: string
  firstOffset: number
  lastOffset: number
  records: number
  /** Uncompressed size of the encoded records. */
  encodedBytes: number
  /**
   * Compressed bytes. Chunks of the same file are concatenated, so every chunk must be independently decodable
   * and concatenation must stay a valid file (true for gzip members, zstd frames and uncompressed lines), unless
   * `layout` says how the file is assembled.
   */
  data: Buffer
  /**
   * Set by formats whose files are not a concatenation of chunks (Parquet: header, row groups, footer with
   * absolute offsets). Absent: the sink appends `data` as it is (the fast path).
   */
  layout?: FileLayout
}

/** How the sink assembles a file from chunks of one kind (see EncodedGroup.layout). */
export interface FileLayout {
  /** Chunks of different ids never share a file (e.g. Parquet chunks of different schemas). */
  readonly id: string
  /** A builder for a new file that starts with this chunk. */
  open (): FileBuilder
}

/**
 * Builds one file from its chunks. The bytes it returns are final and are written at the file's end in order;
 * what it holds back (e.g. a Parquet row group still filling) counts as buffered memory.
 */
export interface FileBuilder {
  /** Takes a chunk (its `layout` is of this builder's kind); returns bytes to write now (often none). */
  append (group: EncodedGroup, fileOffset: number): Buffer[]
  /** The rest of the file: everything held back, then the trailer. */
  finish (fileOffset: number): Buffer[]
  /** Bytes held back, not yet returned. */
  readonly heldBytes: number
}

export interface EncodedBatch extends BatchBase {
  kind: 'encoded'
  groups: EncodedGroup[]
}

/** What a partition's commit carries besides the offset. */
export interface AssignedPartition extends TopicPartition {
  /**
   * Where reading resumes: the group's committed offset (or a later one the sink knows was committed, see
   * OffsetCommitter.setStartResolver), or null when there is none yet (start per autoOffsetReset).
   */
  committedOffset: number | null
  /** Commit metadata string stored with that offset, if any. */
  metadata: string | null
}

/** The group (re)assigned partitions. All per-partition state of older epochs is void from here on. */
export interface AssignmentEvent {
  kind: 'assignment'
  epoch: number
  partitions: AssignedPartition[]
  /**
   * Set when the source can carry partitions it kept over from the previous epoch (OffsetCommitter
   * enableCarryOver). The sink calls it exactly once while handling this event, with the partitions whose open
   * files it keeps and the offset those files end at. true: the source delivers each of them from exactly that
   * offset (the others from committedOffset); false (too late, the source did not wait): nothing may be kept.
   */
  carryOver?: (kept: Array<TopicPartition & { nextOffset: number }>) => boolean
}

/** Cut and commit everything now (used on shutdown with uploadOnShutdown). */
export interface FlushRequest {
  kind: 'flush'
}

export type ControlItem = AssignmentEvent | FlushRequest
export type PipelineItem = RecordBatch | ParsedBatch | RoutedBatch | EncodedBatch | ControlItem

/** The fields every stage carries from its input batch to its output batch unchanged. */
export function batchBase (batch: BatchBase): BatchBase {
  const base: BatchBase = {
    topic: batch.topic,
    partition: batch.partition,
    epoch: batch.epoch,
    firstOffset: batch.firstOffset,
    nextOffset: batch.nextOffset,
    rawBytes: batch.rawBytes
  }
  if (batch.maxEventTime !== undefined) base.maxEventTime = batch.maxEventTime
  if (batch.filtered !== undefined) base.filtered = batch.filtered
  if (batch.skipped !== undefined) base.skipped = batch.skipped
  return base
}

export function isControl (item: PipelineItem): item is ControlItem {
  return item.kind === 'assignment' || item.kind === 'flush'
}

/**
 * What the sink needs from the source to commit safely (implemented by the Kafka source; out-of-band from the
 * data stream because a commit must see the *current* group state, not the state when the data was read).
 */
export interface OffsetCommitter {
  /** The current assignment epoch. */
  readonly epoch: number
  /**
   * Commits `offset` (the next offset to read) with `metadata` for the partition, only if `epoch` is still the
   * current epoch and the group generation did not change while committing. Throws FencedError when the
   * partition may have been lost; any other error means the commit did not happen and may be retried.
   */
  commit (tp: TopicPartition, offset: number, metadata: string, epoch: number): Promise<void>
  /**
   * Lets the sink correct where a newly assigned partition starts (see CommitProtocol.startOffset) before any of
   * its records is read. The returned offset replaces `committedOffset` in the AssignmentEvent.
   */
  setStartResolver?: (resolve: (assigned: AssignedPartition) => Promise<number | null>) => void
  /** The sink answers AssignmentEvent.carryOver: the source waits for that answer before reading a new epoch. */
  enableCarryOver?: () => void
}
