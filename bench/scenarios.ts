/** The scenarios and their sizes (full and --quick). */
import { DEFAULT_SET_BYTES, LIVE_SET_BYTES, type DataSpec } from './data.js'
import type { OutputSettings, SinkSettings } from './jobs.js'

const KiB = 1024
const MiB = 1024 * KiB

export const PARTITIONS = 64
/** The mock broker trims a partition beyond ~5 MiB (or 100,000 messages): data is sized below this. */
export const MAX_PARTITION_BYTES = 4 * MiB

export interface KafkaScenario {
  name: 'steady' | 'live' | 'wide' | 'large'
  kind: 'kafka'
  description: string
  data: DataSpec
  /** Value bytes per produced message set, i.e. per fetched batch (the mock broker answers a fetch with one
   *  produced set per partition); default DEFAULT_SET_BYTES (~900 KB: a backlog's full fetches). */
  setBytes?: number
  sink: SinkSettings
  /** Extra Sediment runs on the same topic with other outputs (codec / format), side by side with the default. */
  variants?: OutputVariant[]
  /** Runs of the service (CLI path) with these `workers` settings on the same topic. */
  workers?: number[]
}

export interface OutputVariant {
  pipeline: 'sediment-zstd' | 'sediment-parquet'
  output: OutputSettings
}

/** zstd -3 (the service's zstd default) and Parquet with snappy pages: the two non-default outputs benchmarked. */
export const OUTPUT_VARIANTS: OutputVariant[] = [
  { pipeline: 'sediment-zstd', output: { format: 'jsonl', compression: 'zstd', level: 3 } },
  { pipeline: 'sediment-parquet', output: { format: 'parquet', compression: 'snappy' } }
]

export interface StagesScenario {
  name: 'stages-only'
  kind: 'stages'
  description: string
  data: DataSpec
  batchBytes: number
  /** Extra stage runs with other outputs, each beside its shell baseline where one exists (zstd -3 of the file). */
  variants?: OutputVariant[]
}

export interface CutScenario {
  name: 'cut-to-commit'
  kind: 'sink-cut'
  description: string
  fileBytes: number
  chunkBytes: number
}

export type Scenario = KafkaScenario | StagesScenario | CutScenario

export const SCENARIO_NAMES = ['steady', 'live', 'wide', 'large', 'stages-only', 'cut-to-commit'] as const

export function scenarios (quick: boolean): Scenario[] {
  const small = quick ? 100_000 : 1_000_000
  // The service's default cut size (100 MiB per Kafka partition) is far more than the broker keeps per partition
  // (~5 MiB), so steady and large scale it down to about half of each partition's data: one cut while
  // consuming, the rest at end of input. (Each cut costs ~7 S3 requests and a Kafka commit whatever its size.)
  const steadyCut = quick ? 160 * KiB : 2 * MiB
  return [
    {
      name: 'steady',
      kind: 'kafka',
      description: `${small.toLocaleString('en-US')} JSON messages of ~207 B over ${PARTITIONS} partitions, event times in order over 4 h (hourly directories); a cut every ${steadyCut / KiB} KiB of input per partition, the rest at end of input`,
      data: { shape: 'small', count: small, partitions: PARTITIONS, time: 'ordered', hours: 4 },
      sink: { maxFileBytes: steadyCut, maxFileAgeSeconds: 3600 },
      // quick mode leaves the other outputs out to stay under 2 minutes with the live scenario
      ...(quick ? {} : { variants: OUTPUT_VARIANTS }),
      ...(quick ? {} : { workers: [1, 2] }) // full mode only: quick mode's data is read in ~1 s
    },
    {
      // A consumer caught up with live traffic gets small fetches: the same data as steady, produced in sets of
      // ~31 messages, so each fetch brings ~31 messages per partition instead of ~4,300.
      name: 'live',
      kind: 'kafka',
      description: `steady's ${small.toLocaleString('en-US')} messages produced in sets of ~${Math.round(LIVE_SET_BYTES / 207)} (~${LIVE_SET_BYTES / 1000} KB) per partition, so every fetch brings ~${Math.round(LIVE_SET_BYTES / 207)} messages per partition, as for a consumer caught up with live traffic; ${steadyCut / KiB} KiB cuts`,
      data: { shape: 'small', count: small, partitions: PARTITIONS, time: 'ordered', hours: 4 },
      setBytes: LIVE_SET_BYTES,
      sink: { maxFileBytes: steadyCut, maxFileAgeSeconds: 3600 }
    },
    {
      name: 'wide',
      kind: 'kafka',
      description: `${small.toLocaleString('en-US')} JSON messages of ~207 B over ${PARTITIONS} partitions, event times scattered over 48 h: ~${PARTITIONS * 48} files open at once (default 100 MiB cut size), all cut at end of input`,
      data: { shape: 'small', count: small, partitions: PARTITIONS, time: 'scattered', hours: 48 },
      sink: { maxFileBytes: 100 * MiB, maxFileAgeSeconds: 3600 }
    },
    {
      name: 'large',
      kind: 'kafka',
      description: `${(quick ? 2000 : 20_000).toLocaleString('en-US')} JSON messages of ~10 KB over ${PARTITIONS} partitions, event times in order over 4 h; a cut every ${steadyCut / KiB} KiB of input per partition`,
      data: { shape: 'large', count: quick ? 2000 : 20_000, partitions: PARTITIONS, time: 'ordered', hours: 4, largeBytes: 10_240 },
      sink: { maxFileBytes: steadyCut, maxFileAgeSeconds: 3600 }
    },
    {
      name: 'stages-only',
      kind: 'stages',
      description: `${(quick ? 200_000 : 1_000_000).toLocaleString('en-US')} steady messages from memory (batches of ~${DEFAULT_SET_BYTES / 1000} KB per partition, like the Kafka scenarios' fetches) → parse → partition → gzip -6 → null sink; no Kafka, no store`,
      data: { shape: 'small', count: quick ? 200_000 : 1_000_000, partitions: PARTITIONS, time: 'ordered', hours: 4 },
      batchBytes: DEFAULT_SET_BYTES,
      variants: OUTPUT_VARIANTS
    },
    {
      name: 'cut-to-commit',
      kind: 'sink-cut',
      description: 'the sink alone: one 100 MiB file (1 MiB gzip members, 8 MiB parts) into ObjectSink + S3Store on the local S3 server; the offset commit is an in-process no-op',
      fileBytes: 100 * MiB,
      chunkBytes: 1 * MiB
    }
  ]
}
