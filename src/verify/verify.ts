/**
 * `sediment verify`: checks that what the group committed in Kafka is in the bucket, exactly once, intact.
 *
 * The manifests (one per committed cut, see sinks/commit-protocol.ts) are the bucket's own account of what it
 * holds. Per topic-partition, verify checks that
 *   - the manifests' offset ranges chain without gaps or overlaps,
 *   - they end at the group's committed offset (beyond it: a missing manifest, unless the commit metadata names
 *     an intent that still exists — a cut committed but not yet completed, which the next owner finishes),
 *   - they start at Kafka's earliest offset (later is fine when retention removed the older records),
 *   - every object they list exists with the recorded size and, optionally, sha256,
 *   - no data object of the partition is missing from them (orphans: visible data nobody accounted for).
 *
 * Order matters when the service is running meanwhile: manifests are listed before the offsets are read (a
 * commit precedes its manifest, so no listed manifest can be ahead of the commit read later), and objects after
 * the manifests (an object is complete before its manifest is written). What a running service adds in between
 * is re-checked before it is reported: the manifest a newer commit names, and new manifests of partitions with
 * unreferenced objects.
 */
import type { SedimentConfig } from '../config/types.js'
import { errorMessage } from '../errors.js'
import { decodeMetadata, manifestPrefix, type CommitMetadata, type CutFile, type CutRecord } from '../sinks/layout.js'
import { joinKey, type ObjectStore } from '../sinks/object-store.js'
import type { CommittedOffset, KafkaOffsets, Watermarks } from './kafka-offsets.js'
import { objectReaderFor, type ObjectReader } from './object-reader.js'

/** error: data missing or inconsistent; pending: committed, completion under way; warning: cannot confirm. */
export const Severities = ['error', 'pending', 'warning', 'info'] as const
export type Severity = (typeof Severities)[number]

export const FindingKinds = [
  'gap', 'overlap', 'missing-manifest', 'manifest-beyond-commit', 'uncovered-start', 'invalid-manifest',
  'missing-object', 'size-mismatch', 'checksum-mismatch', 'unreadable-object', 'orphan',
  'commit-pending', 'in-flight',
  'kafka-unavailable', 'unknown-topic', 'no-topics',
  'retention', 'consumer-lag', 'leftover-intents', 'other-generation',
  'expired'
] as const
export type FindingKind = (typeof FindingKinds)[number]

/** Offsets [start, end): `end` is exclusive, like a committed offset. */
export interface OffsetRange {
  start: number
  end: number
}

export interface Finding {
  severity: Severity
  kind: FindingKind
  topic?: string
  partition?: number
  range?: OffsetRange
  /** The object (data, manifest or intent) concerned. */
  key?: string
  message: string
}

export const VerifyStatuses = ['complete', 'pending', 'unconfirmed', 'incomplete'] as const
/**
 * complete: everything committed is in the bucket, consistent; pending: only cuts committed but not yet
 * completed; unconfirmed: the bucket is consistent but Kafka could not be asked; incomplete: anything worse.
 */
export type VerifyStatus = (typeof VerifyStatuses)[number]

export const PartitionStatuses = ['ok', 'pending', 'unconfirmed', 'incomplete'] as const
export type PartitionStatus = (typeof PartitionStatuses)[number]

export interface PartitionReport {
  topic: string
  partition: number
  status: PartitionStatus
  manifests: number
  /** Objects listed in the manifests, their bytes and records. */
  objects: number
  bytes: number
  records: number
  /** Smallest start and largest end of the manifests (gaps inside are findings). */
  coverage: OffsetRange | null
  /** The group's committed offset; null when none (or Kafka was not consulted). */
  committed: number | null
  /** Kafka's earliest and end offsets; null when unknown. */
  low: number | null
  high: number | null
}

export interface VerifyReport {
  version: 1
  status: VerifyStatus
  /** status === 'complete'. */
  ok: boolean
  /** Sink location and prefix, e.g. `s3://bucket/logs/`. */
  location: string
  generation: number
  groupId: string
  kafka: { consulted: boolean, location: string | null, error: string | null }
  checksums: boolean
  topics: string[]
  partitions: PartitionReport[]
  /** Worst first, then by topic, partition and offset. */
  findings: Finding[]
  totals: {
    partitions: number
    manifests: number
    objects: number
    bytes: number
    records: number
    checksummed: number
    orphans: number
    errors: number
    pending: number
    warnings: number
  }
  startedAt: string
  durationMs: number
}

export const VerifyPhases = ['topics', 'manifests', 'kafka', 'objects', 'partition', 'done'] as const
export type VerifyPhase = (typeof VerifyPhases)[number]

export interface VerifyProgress {
  phase: VerifyPhase
  message: string
  done?: number
  total?: number
}

export interface VerifyOptions {
  config: SedimentConfig
  /** The sink's store (manifests, listings, sizes). */
  store: ObjectStore
  /** Committed offsets and watermarks; omit to verify the bucket alone (completeness is then unconfirmed). */
  kafka?: KafkaOffsets
  /** Topics to check; default: the config's topics, or those matching its topicPattern. */
  topics?: string[]
  /** Hash every listed object and compare with the manifest's sha256 (reads all data). */
  checksums: boolean
  /** Streaming reads for checksums; default: a reader for the config's sink (closed at the end). */
  reader?: ObjectReader
  /** Objects read at once. Default 4. */
  concurrency?: number
  onProgress?: (progress: VerifyProgress) => void
}

interface ManifestEntry {
  key: string
  start: number
  end: number
  /** null when the manifest is unreadable; its key still tells the range it claims. */
  record: CutRecord | null
}

interface PartitionState {
  topic: string
  partition: number
  manifests: ManifestEntry[]
  intents: Array<{ key: string, end: number }>
  committed: CommittedOffset | undefined
  watermarks: Watermarks | undefined
  coverage: OffsetRange | null
  /** The intent of a committed, not yet completed cut, and its objects: visible ones are not orphans. */
  pendingIntent: string | null
  pendingKeys: Set<string>
}

const MANIFEST_NAME = /^(\d+)\/(\d+)_(\d{20})_(\d{20})\.json$/
const INTENT_NAME = /^(\d+)\/(?:\d+_)?(\d{20})-[^/]+\.json$/
const DATA_NAME = /^(\d+)_(\d+)_(\d{20})(\.[^/]*)?$/
const SHA256 = /^[0-9a-f]{64}$/
const PROGRESS_EVERY = 50
const PROGRESS_INTERVAL_MS = 2000

export async function verifyOutput (options: VerifyOptions): Promise<VerifyReport> {
  const ownReader = options.checksums && options.reader === undefined
  const reader = options.reader ?? (options.checksums ? objectReaderFor(options.config) : undefined)
  try {
    return await new Verifier(options, reader).run()
  } finally {
    if (ownReader) await reader?.close()
  }
}

/** One verify run; holds what it learned along the way. */
class Verifier {
  readonly #o: VerifyOptions
  readonly #reader: ObjectReader | undefined
  readonly #prefix: string
  readonly #generation: number
  readonly #findings: Finding[] = []
  readonly #partitions = new Map<string, PartitionState>()
  #kafkaError: string | null = null
  #kafkaConsulted = false
  #checksummed = 0
  #lastProgressAt = 0

  constructor (options: VerifyOptions, reader: ObjectReader | undefined) {
    this.#o = options
    this.#reader = reader
    this.#prefix = options.config.sink.prefix
    this.#generation = options.config.generation
  }

  async run (): Promise<VerifyReport> {
    const started = Date.now()
    const topics = await this.#resolveTopics()
    if (topics.length === 0) {
      this.#add({ severity: 'warning', kind: 'no-topics', message: 'no topics to verify (no --topic, and nothing matches the config\'s topicPattern)' })
    }
    for (const topic of topics) await this.#readManifests(topic)
    await this.#readKafka(topics)
    for (const topic of topics) await this.#listIntents(topic)
    for (const ps of this.#sorted()) await this.#checkCoverage(ps)
    for (const topic of topics) await this.#checkObjects(topic)
    if (this.#o.kafka === undefined) {
      this.#add({ severity: 'warning', kind: 'kafka-unavailable', message: 'Kafka was not consulted: completeness against the committed offsets cannot be confirmed' })
    } else if (this.#kafkaError !== null) {
      this.#add({ severity: 'warning', kind: 'kafka-unavailable', message: `Kafka unreachable (${this.#kafkaError}): the bucket was verified alone; completeness cannot be confirmed` })
    }
    const report = this.#report(topics, started)
    this.#progress('done', `${report.status}: ${report.totals.errors} errors, ${report.totals.pending} pending, ${report.totals.warnings} warnings`)
    return report
  }

  // ---- topics ----

  async #resolveTopics (): Promise<string[]> {
    const { config, kafka } = this.#o
    if (this.#o.topics !== undefined && this.#o.topics.length > 0) return [...new Set(this.#o.topics)].sort()
    if (config.kafka.topics !== undefined) return [...new Set(config.kafka.topics)].sort()
    // topicPattern: the topics that have manifests, and those of the cluster that match
    const pattern = new RegExp(config.kafka.topicPattern ?? '')
    const found = new Set<string>()
    const root = manifestPrefix(this.#prefix)
    this.#progress('topics', `finding topics matching /${pattern.source}/`)
    for await (const { key } of this.#o.store.list(root)) {
      const topic = key.slice(root.length).split('/')[0] ?? ''
      if (topic !== '' && pattern.test(topic)) found.add(topic)
    }
    if (kafka !== undefined) {
      await this.#kafkaCall(async () => {
        for (const t of await kafka.listTopics()) if (!t.startsWith('__') && pattern.test(t)) found.add(t)
      })
    }
    return [...found].sort()
  }

  // ---- manifests ----

  async #readManifests (topic: string): Promise<void> {
    const root = manifestPrefix(this.#prefix, topic)
    this.#progress('manifests', `${topic}: listing manifests under ${root}`)
    const listed: Array<{ key: string, partition: number, start: number, end: number }> = []
    let otherGenerations = 0
    for await (const { key } of this.#o.store.list(root)) {
      const m = MANIFEST_NAME.exec(key.slice(root.length))
      if (m === null) {
        this.#add({ severity: 'error', kind: 'invalid-manifest', topic, key, message: `unexpected object in the manifest directory: ${key}` })
        continue
      }
      if (Number(m[2]) !== this.#generation) { otherGenerations++; continue }
      listed.push({ key, partition: Number(m[1]), start: Number(m[3]), end: Number(m[4]) })
    }
    if (otherGenerations > 0) {
      this.#add({ severity: 'info', kind: 'other-generation', topic, message: `${otherGenerations} manifests of other generations than ${this.#generation} were not checked` })
    }
    let done = 0
    await forEachLimit(listed, 8, async (m) => {
      const entry = await this.#readManifest(topic, m.partition, m.key, m.start, m.end)
      if (entry !== null) this.#partitionState(topic, m.partition).manifests.push(entry)
      done++
      this.#throttled('manifests', `${topic}: read ${done}/${listed.length} manifests`, done, listed.length)
    })
    this.#progress('manifests', `${topic}: ${listed.length} manifests`, listed.length, listed.length)
  }

  /** Reads and checks one manifest; null when it vanished since it was listed. */
  async #readManifest (topic: string, partition: number, key: string, start: number, end: number): Promise<ManifestEntry | null> {
    const body = await this.#o.store.get(key)
    if (body === null) return null
    const entry: ManifestEntry = { key, start, end, record: null }
    const where = { topic, partition, key, range: { start, end } }
    let raw: unknown
    try {
      raw = JSON.parse(body.toString('utf8'))
    } catch (err) {
      this.#add({ severity: 'error', kind: 'invalid-manifest', ...where, message: `manifest ${key} is not valid JSON (${errorMessage(err)})` })
      return entry
    }
    const problems = manifestProblems(raw, { topic, partition, generation: this.#generation, start, end })
    if (problems.fatal !== undefined) {
      this.#add({ severity: 'error', kind: 'invalid-manifest', ...where, message: `manifest ${key}: ${problems.fatal}` })
      return entry
    }
    for (const p of problems.files) this.#add({ severity: 'error', kind: 'invalid-manifest', ...where, message: `manifest ${key}: ${p}` })
    entry.record = raw as CutRecord
    return entry
  }

  // ---- Kafka ----

  async #readKafka (topics: string[]): Promise<void> {
    const kafka = this.#o.kafka
    if (kafka === undefined || topics.length === 0) return
    const { groupId } = this.#o.config.kafka
    this.#progress('kafka', `reading committed offsets of group ${groupId} from ${kafka.location}`)
    const committed = await this.#kafkaCall(async () => await kafka.committed(groupId, topics))
    if (committed === undefined) {
      this.#progress('kafka', `Kafka unreachable (${this.#kafkaError ?? ''}); verifying the bucket alone`)
      return
    }
    for (const topic of topics) {
      let marks: Map<number, Watermarks>
      try {
        marks = await kafka.watermarks(topic)
      } catch (err) {
        // One topic may be gone (deleted) while the cluster answers for the others.
        this.#add({ severity: 'warning', kind: 'unknown-topic', topic, message: `cannot read the offsets of topic ${topic} (${errorMessage(err)}); its completeness is unconfirmed` })
        continue
      }
      const commits = committed.get(topic) ?? new Map<number, CommittedOffset>()
      for (const [partition, w] of marks) {
        const ps = this.#partitionState(topic, partition)
        ps.watermarks = w
        ps.committed = commits.get(partition) ?? { offset: null, metadata: null }
      }
      for (const [partition, c] of commits) {
        if (!marks.has(partition)) this.#partitionState(topic, partition).committed = c
      }
    }
    this.#kafkaConsulted = true
  }

  /** Runs a Kafka request unless Kafka already failed: one unreachable cluster costs one timeout, not many. */
  async #kafkaCall<T> (request: () => Promise<T>): Promise<T | undefined> {
    if (this.#kafkaError !== null) return undefined
    try {
      return await request()
    } catch (err) {
      this.#kafkaError = errorMessage(err)
      return undefined
    }
  }

  // ---- intents ----

  async #listIntents (topic: string): Promise<void> {
    const root = joinKey(this.#prefix, '_sediment', 'intents', topic) + '/'
    for await (const { key } of this.#o.store.list(root)) {
      const m = INTENT_NAME.exec(key.slice(root.length))
      if (m === null) continue
      const ps = this.#partitions.get(tpKey(topic, Number(m[1])))
      // Intents of partitions without manifests or offsets say nothing verify can check.
      ps?.intents.push({ key, end: Number(m[2]) })
    }
  }

  // ---- offsets ----

  async #checkCoverage (ps: PartitionState): Promise<void> {
    const { topic, partition } = ps
    const at = { topic, partition }
    const c = ps.committed?.offset ?? null
    const meta = decodeMetadata(ps.committed?.metadata ?? null)

    // Commits newer than the manifests: a running service may have written their manifests since the listing.
    // Only those up to the offset read count; later ones belong to commits this run does not know of.
    if (c !== null && coverageEnd(ps.manifests) < c) {
      for (const m of await this.#newManifests(ps)) if (m.end <= c) ps.manifests.push(m)
    }

    const cuts = [...ps.manifests].sort((a, b) => a.start - b.start || a.end - b.end)
    const gaps: Finding[] = []
    let end: number | null = null
    let last: ManifestEntry | undefined
    for (const m of cuts) {
      if (end !== null && last !== undefined) {
        if (m.start > end) {
          gaps.push(this.#add({
            severity: 'error', kind: 'gap', ...at, range: { start: end, end: m.start },
            message: `offsets ${end}..${m.start} are not covered by any manifest (between ${last.key} and ${m.key})`
          }))
        } else if (m.start < end) {
          this.#add({
            severity: 'error', kind: 'overlap', ...at, range: { start: m.start, end: Math.min(end, m.end) }, key: m.key,
            message: `offsets ${m.start}..${Math.min(end, m.end)} are covered twice: by ${last.key} and ${m.key} (duplicated data)`
          })
        }
      }
      if (end === null || m.end > end) {
        end = m.end
        last = m
      }
    }
    ps.coverage = cuts.length > 0 && end !== null ? { start: cuts[0]?.start ?? 0, end } : null
    // Holes the writer recorded: offsets retention deleted before they were archived. The manifests chain, but
    // these records are in no object: lost, and reported as such.
    for (const m of cuts) {
      for (const s of m.record?.skipped ?? []) {
        this.#add({
          severity: 'error', kind: 'expired', ...at, range: { start: s.from, end: s.to }, key: m.key,
          message: `offsets ${s.from}..${s.to} were deleted by Kafka retention before they were archived (${s.to - s.from} records lost; recorded in ${m.key})`
        })
      }
    }

    if (ps.committed !== undefined) {
      const low = ps.watermarks?.low ?? null
      if (c === null) {
        if (ps.coverage !== null) {
          this.#add({
            severity: 'error', kind: 'manifest-beyond-commit', ...at, range: ps.coverage,
            message: `manifests cover offsets ${ps.coverage.start}..${ps.coverage.end} but group ${this.#o.config.kafka.groupId} has no committed offset for this partition (wrong groupId, or its offsets were deleted)`
          })
        }
      } else if (ps.coverage === null || ps.coverage.end < c) {
        const from = ps.coverage?.end ?? Math.min(low ?? 0, c)
        gaps.push(...await this.#beyondCoverage(ps, from, c, meta))
      } else if (ps.coverage.end > c) {
        this.#add({
          severity: 'error', kind: 'manifest-beyond-commit', ...at, range: { start: c, end: ps.coverage.end },
          message: `manifests cover offsets ${c}..${ps.coverage.end}, beyond the committed offset ${c} (were the group's offsets reset?)`
        })
      }
    }

    if (ps.coverage !== null && ps.coverage.start > 0) this.#checkStart(ps, ps.coverage.start)
    this.#classifyIntents(ps, gaps)
  }

  /** Committed offsets [from, committed) have no manifest: a cut pending completion, or a missing manifest. */
  async #beyondCoverage (ps: PartitionState, from: number, committed: number, meta: CommitMetadata | null): Promise<Finding[]> {
    const at = { topic: ps.topic, partition: ps.partition }
    let missingEnd = committed
    if (meta !== null && meta.end === committed && meta.start >= from) {
      const body = await this.#o.store.get(meta.intent)
      const intent = body === null ? null : parseJson(body) as Partial<CutRecord> | null
      if (intent !== null && intent.endOffset === committed) {
        const files = Array.isArray(intent.files) ? intent.files : []
        for (const f of files) if (typeof f?.key === 'string') ps.pendingKeys.add(f.key)
        ps.pendingIntent = meta.intent
        this.#add({
          severity: 'pending', kind: 'commit-pending', ...at, range: { start: meta.start, end: committed }, key: meta.intent,
          message: `commit pending completion: offsets ${meta.start}..${committed} are committed and the commit names intent ${meta.intent} (${files.length} objects), ` +
            'but no manifest yet; the partition\'s next owner completes the cut and writes its manifest'
        })
        missingEnd = meta.start
      }
    }
    if (missingEnd <= from) return []
    const named = meta !== null && meta.end === committed && missingEnd === committed ? ` (the commit names manifest ${meta.manifest}, which does not exist)` : ''
    return [this.#add({
      severity: 'error', kind: 'missing-manifest', ...at, range: { start: from, end: missingEnd },
      message: `offsets ${from}..${missingEnd} are committed (group offset ${committed}) but no manifest covers them${named}`
    })]
  }

  #checkStart (ps: PartitionState, start: number): void {
    const at = { topic: ps.topic, partition: ps.partition }
    const low = ps.watermarks?.low
    if (low === undefined) {
      this.#add({ severity: 'info', kind: 'retention', ...at, message: `coverage starts at offset ${start}; Kafka's earliest offset is unknown, so offsets below it are unchecked` })
    } else if (start <= low) {
      this.#add({ severity: 'info', kind: 'retention', ...at, message: `coverage starts at offset ${start}; Kafka's earliest offset is ${low} (older records were removed by retention)` })
    } else if (this.#o.config.kafka.autoOffsetReset === 'latest') {
      this.#add({ severity: 'info', kind: 'uncovered-start', ...at, range: { start: low, end: start }, message: `offsets ${low}..${start} are not in the bucket (the group started from the latest offset: autoOffsetReset latest)` })
    } else {
      this.#add({
        severity: 'error', kind: 'uncovered-start', ...at, range: { start: low, end: start },
        message: `offsets ${low}..${start} are still in Kafka (earliest offset ${low}) but no manifest covers them; coverage starts at ${start}`
      })
    }
  }

  /**
   * Intents normally disappear once their manifest is written. Leftovers are harmless when a manifest exists
   * (deleting the intent failed) or when the cut was never committed (its uploads stay invisible); an intent of
   * a committed cut without a manifest explains a gap: the cut it describes lost its manifest.
   */
  #classifyIntents (ps: PartitionState, gaps: Finding[]): void {
    const c = ps.committed?.offset ?? null
    const ends = new Set(ps.manifests.map((m) => m.end))
    let stale = 0
    let uncommitted = 0
    for (const intent of ps.intents) {
      if (intent.key === ps.pendingIntent) continue
      if (ends.has(intent.end)) { stale++; continue }
      if (c === null || intent.end > c) { uncommitted++; continue }
      const gap = gaps.find((g) => g.range !== undefined && intent.end > g.range.start && intent.end <= g.range.end)
      if (gap !== undefined) gap.message += `; intent ${intent.key} describes the cut ending at ${intent.end} (its objects may be visible without a manifest)`
    }
    const parts: string[] = []
    if (stale > 0) parts.push(`${stale} of cuts that have their manifest (deleting the intent failed)`)
    if (uncommitted > 0) parts.push(`${uncommitted} of cuts beyond the committed offset (never committed: fenced or abandoned; their uploads stay invisible)`)
    if (parts.length > 0) {
      this.#add({ severity: 'info', kind: 'leftover-intents', topic: ps.topic, partition: ps.partition, message: `leftover intents: ${parts.join('; ')}` })
    }
  }

  // ---- objects ----

  async #checkObjects (topic: string): Promise<void> {
    const listed = new Map<string, number>()
    for (const root of [joinKey(this.#prefix, topic) + '/', joinKey(this.#prefix, '_errors', topic) + '/']) {
      this.#progress('objects', `${topic}: listing objects under ${root}`)
      for await (const { key, size } of this.#o.store.list(root)) {
        if (key.endsWith('/_SUCCESS')) continue // the finalizer's markers (src/finalizer/markers.ts), not data
        listed.set(key, size)
        if (Date.now() - this.#lastProgressAt >= PROGRESS_INTERVAL_MS) this.#progress('objects', `${topic}: ${listed.size} objects listed`)
      }
    }
    const states = this.#sorted().filter((ps) => ps.topic === topic)
    const referenced = new Set<string>()
    for (const ps of states) for (const m of ps.manifests) for (const f of m.record?.files ?? []) referenced.add(f.key)
    const total = referenced.size
    let done = 0
    let hashed = 0
    this.#progress('objects', `${topic}: checking ${total} objects${this.#o.checksums ? ' (sha256)' : ''}, ${listed.size} listed`)
    for (const ps of states) {
      const files = ps.manifests.flatMap((m) => (m.record?.files ?? []).map((file) => ({ manifest: m.key, file })))
      let problems = 0
      await forEachLimit(files, this.#o.concurrency ?? 4, async ({ manifest, file }) => {
        const bytes = await this.#checkObject(ps, manifest, file, listed.get(file.key))
        if (bytes < 0) problems++
        else hashed += bytes
        done++
        this.#throttled('objects', `${topic}: checked ${done}/${total} objects${this.#o.checksums ? `, ${formatBytes(hashed)} hashed` : ''}`, done, total)
      })
      const r = this.#partitionFigures(ps)
      this.#progress('partition', `${topic}[${ps.partition}]: ${files.length} objects, ${r.records} records, offsets ${ps.coverage === null ? 'none' : `${ps.coverage.start}..${ps.coverage.end}`}` +
        (problems > 0 ? `, ${problems} object problems` : ''))
    }
    await this.#checkOrphans(topic, states, listed, referenced)
  }

  /** Returns the bytes hashed (0 when not hashed), or -1 when the object is missing or wrong. */
  async #checkObject (ps: PartitionState, manifest: string, file: CutFile, listedSize: number | undefined): Promise<number> {
    const at = { topic: ps.topic, partition: ps.partition, key: file.key, range: { start: file.firstOffset, end: file.lastOffset + 1 } }
    const what = `${file.key} (offsets ${file.firstOffset}..${file.lastOffset + 1}, ${file.records} records, in manifest ${manifest})`
    const missing = (): number => {
      this.#add({ severity: 'error', kind: 'missing-object', ...at, message: `missing object ${what}` })
      return -1
    }
    // Not in the listing (deleted, or outside the listed directories): ask for it directly before saying so.
    const size = listedSize ?? await this.#o.store.size(file.key)
    if (size === null) return missing()
    if (size !== file.bytes) {
      this.#add({ severity: 'error', kind: 'size-mismatch', ...at, message: `size mismatch: ${what} has ${size} bytes, the manifest says ${file.bytes}` })
      return -1
    }
    if (!this.#o.checksums || this.#reader === undefined) return 0
    let digest
    try {
      digest = await this.#reader.digest(file.key)
    } catch (err) {
      this.#add({ severity: 'error', kind: 'unreadable-object', ...at, message: `cannot read ${what}: ${errorMessage(err)}` })
      return -1
    }
    if (digest === null) return missing()
    this.#checksummed++
    if (digest.sha256 !== file.sha256 || digest.bytes !== file.bytes) {
      this.#add({
        severity: 'error', kind: 'checksum-mismatch', ...at,
        message: `checksum mismatch: ${what} has sha256 ${digest.sha256} (${digest.bytes} bytes), the manifest says ${file.sha256} (${file.bytes} bytes)`
      })
      return -1
    }
    return digest.bytes
  }

  async #checkOrphans (topic: string, states: PartitionState[], listed: Map<string, number>, referenced: Set<string>): Promise<void> {
    const pending = new Set(states.flatMap((ps) => [...ps.pendingKeys]))
    const candidates: Array<{ key: string, partition: number | undefined, firstOffset: number | undefined }> = []
    let otherGenerations = 0
    for (const key of listed.keys()) {
      if (referenced.has(key) || pending.has(key)) continue
      const m = DATA_NAME.exec(key.slice(key.lastIndexOf('/') + 1))
      if (m !== null && Number(m[1]) !== this.#generation) { otherGenerations++; continue }
      candidates.push({ key, partition: m === null ? undefined : Number(m[2]), firstOffset: m === null ? undefined : Number(m[3]) })
    }
    if (otherGenerations > 0) {
      this.#add({ severity: 'info', kind: 'other-generation', topic, message: `${otherGenerations} data objects of other generations than ${this.#generation} were not checked` })
    }
    if (candidates.length === 0) return

    // A running service may have committed and completed cuts since the manifests were listed: their objects
    // are in a manifest written since, or (completed, manifest not yet written) in their cut's intent.
    const late = new Set<string>()
    const intents = new Map<string, { key: string, end: number }>()
    for (const partition of new Set(candidates.map((c) => c.partition))) {
      if (partition === undefined) continue
      const ps = this.#partitionState(topic, partition)
      for (const m of await this.#newManifests(ps)) for (const f of m.record?.files ?? []) late.add(f.key)
      for (const [key, intent] of await this.#intentFiles(ps)) intents.set(key, intent)
    }
    let inFlight = 0
    for (const c of candidates) {
      if (late.has(c.key)) { inFlight++; continue }
      const intent = intents.get(c.key)
      const committed = c.partition === undefined ? undefined : this.#partitions.get(tpKey(topic, c.partition))?.committed
      // Completion follows the commit, so a visible object of an intent beyond the offset read was committed since.
      if (intent !== undefined && committed !== undefined && (committed.offset === null || intent.end > committed.offset)) { inFlight++; continue }
      const described = intent === undefined ? '' : `; intent ${intent.key} describes it (its cut's manifest is missing)`
      this.#add({
        severity: 'error', kind: 'orphan', topic, key: c.key,
        ...(c.partition !== undefined ? { partition: c.partition } : {}),
        message: `orphan object ${c.key} (${listed.get(c.key) ?? 0} bytes${c.firstOffset !== undefined ? `, from offset ${c.firstOffset}` : ''}) is not listed in any manifest${described}`
      })
    }
    if (inFlight > 0) {
      this.#add({ severity: 'info', kind: 'in-flight', topic, message: `${inFlight} objects belong to cuts committed after the offsets were read (the service is running); not checked` })
    }
  }

  /** Manifests of the partition listed now that the run did not read yet (current generation only). */
  async #newManifests (ps: PartitionState): Promise<ManifestEntry[]> {
    const root = manifestPrefix(this.#prefix, ps.topic)
    const known = new Set(ps.manifests.map((m) => m.key))
    const out: ManifestEntry[] = []
    for await (const { key } of this.#o.store.list(`${root}${ps.partition}/`)) {
      const m = MANIFEST_NAME.exec(key.slice(root.length))
      if (known.has(key) || m === null || Number(m[2]) !== this.#generation) continue
      const entry = await this.#readManifest(ps.topic, ps.partition, key, Number(m[3]), Number(m[4]))
      if (entry !== null) out.push(entry)
    }
    return out
  }

  /** Object key → the intent listing it, for the partition's intents as they are now. */
  async #intentFiles (ps: PartitionState): Promise<Map<string, { key: string, end: number }>> {
    const root = joinKey(this.#prefix, '_sediment', 'intents', ps.topic) + '/'
    const out = new Map<string, { key: string, end: number }>()
    for await (const { key } of this.#o.store.list(`${root}${ps.partition}/`)) {
      const m = INTENT_NAME.exec(key.slice(root.length))
      const body = m === null ? null : await this.#o.store.get(key)
      const files = body === null ? undefined : (parseJson(body) as Partial<CutRecord> | null)?.files
      for (const f of Array.isArray(files) ? files : []) if (typeof f?.key === 'string') out.set(f.key, { key, end: Number(m?.[2]) })
    }
    return out
  }

  // ---- report ----

  #report (topics: string[], started: number): VerifyReport {
    const partitions = this.#sorted().map((ps): PartitionReport => {
      const mine = this.#findings.filter((f) => f.topic === ps.topic && f.partition === ps.partition)
      const status: PartitionStatus = mine.some((f) => f.severity === 'error')
        ? 'incomplete'
        : mine.some((f) => f.severity === 'pending')
          ? 'pending'
          : ps.committed === undefined || mine.some((f) => f.severity === 'warning') ? 'unconfirmed' : 'ok'
      return {
        topic: ps.topic,
        partition: ps.partition,
        status,
        ...this.#partitionFigures(ps),
        coverage: ps.coverage,
        committed: ps.committed?.offset ?? null,
        low: ps.watermarks?.low ?? null,
        high: ps.watermarks?.high ?? null
      }
    })
    this.#addLag(partitions)
    const findings = sortFindings(this.#findings)
    const count = (s: Severity): number => findings.filter((f) => f.severity === s).length
    const errors = count('error')
    const pending = count('pending')
    const warnings = count('warning')
    const status: VerifyStatus = errors > 0 ? 'incomplete' : pending > 0 ? 'pending' : warnings > 0 || !this.#kafkaConsulted ? 'unconfirmed' : 'complete'
    const sum = (k: 'manifests' | 'objects' | 'bytes' | 'records'): number => partitions.reduce((n, p) => n + p[k], 0)
    return {
      version: 1,
      status,
      ok: status === 'complete',
      location: `${this.#o.store.location}/${this.#prefix === '' ? '' : `${this.#prefix}/`}`,
      generation: this.#generation,
      groupId: this.#o.config.kafka.groupId,
      kafka: { consulted: this.#kafkaConsulted, location: this.#o.kafka?.location ?? null, error: this.#kafkaError },
      checksums: this.#o.checksums,
      topics,
      partitions,
      findings,
      totals: {
        partitions: partitions.length,
        manifests: sum('manifests'),
        objects: sum('objects'),
        bytes: sum('bytes'),
        records: sum('records'),
        checksummed: this.#checksummed,
        orphans: findings.filter((f) => f.kind === 'orphan').length,
        errors,
        pending,
        warnings
      },
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started
    }
  }

  /** Consumer lag is no fault of the bucket: one informational line per topic. */
  #addLag (partitions: PartitionReport[]): void {
    const byTopic = new Map<string, { offsets: number, partitions: number }>()
    for (const p of partitions) {
      if (p.high === null) continue
      const lag = p.high - (p.committed ?? p.low ?? 0)
      if (lag <= 0) continue
      const t = byTopic.get(p.topic) ?? { offsets: 0, partitions: 0 }
      t.offsets += lag
      t.partitions++
      byTopic.set(p.topic, t)
    }
    for (const [topic, t] of byTopic) {
      this.#add({ severity: 'info', kind: 'consumer-lag', topic, message: `${t.offsets} offsets in ${t.partitions} partitions are not committed yet (consumer lag)` })
    }
  }

  #partitionFigures (ps: PartitionState): { manifests: number, objects: number, bytes: number, records: number } {
    let objects = 0
    let bytes = 0
    let records = 0
    for (const m of ps.manifests) {
      for (const f of m.record?.files ?? []) {
        objects++
        bytes += f.bytes
        records += f.records
      }
    }
    return { manifests: ps.manifests.length, objects, bytes, records }
  }

  // ---- helpers ----

  #partitionState (topic: string, partition: number): PartitionState {
    const k = tpKey(topic, partition)
    let ps = this.#partitions.get(k)
    if (ps === undefined) {
      ps = { topic, partition, manifests: [], intents: [], committed: undefined, watermarks: undefined, coverage: null, pendingIntent: null, pendingKeys: new Set() }
      this.#partitions.set(k, ps)
    }
    return ps
  }

  #sorted (): PartitionState[] {
    return [...this.#partitions.values()].sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)
  }

  #add (finding: Finding): Finding {
    this.#findings.push(finding)
    return finding
  }

  #progress (phase: VerifyPhase, message: string, done?: number, total?: number): void {
    this.#lastProgressAt = Date.now()
    this.#o.onProgress?.({ phase, message, ...(done !== undefined ? { done } : {}), ...(total !== undefined ? { total } : {}) })
  }

  /** Progress inside a long phase: every PROGRESS_EVERY items, or when the last line is a while ago. */
  #throttled (phase: VerifyPhase, message: string, done: number, total: number): void {
    if (done === total) return // the phase's own summary follows
    if (done % PROGRESS_EVERY === 0 || Date.now() - this.#lastProgressAt >= PROGRESS_INTERVAL_MS) this.#progress(phase, message, done, total)
  }
}

/** What is wrong with a manifest: `fatal` when it cannot be used at all, else per-file problems. */
function manifestProblems (raw: unknown, expected: { topic: string, partition: number, generation: number, start: number, end: number }): { fatal?: string, files: string[] } {
  if (typeof raw !== 'object' || raw === null) return { fatal: 'not a JSON object', files: [] }
  const r = raw as Partial<Record<keyof CutRecord, unknown>>
  const mismatches: string[] = []
  const expect = (field: keyof CutRecord, want: unknown): void => {
    if (r[field] !== want) mismatches.push(`${field} is ${JSON.stringify(r[field])}, its name says ${JSON.stringify(want)}`)
  }
  expect('version', 1)
  expect('topic', expected.topic)
  expect('partition', expected.partition)
  expect('generation', expected.generation)
  expect('startOffset', expected.start)
  expect('endOffset', expected.end)
  if (mismatches.length > 0) return { fatal: mismatches.join(', '), files: [] }
  if (expected.end < expected.start) return { fatal: `endOffset ${expected.end} is before startOffset ${expected.start}`, files: [] }
  if (!Array.isArray(r.files)) return { fatal: 'no files array', files: [] }
  if (r.skipped !== undefined) {
    const ok = Array.isArray(r.skipped) && (r.skipped as unknown[]).every((s) => {
      const x = s as { from?: unknown, to?: unknown } | null
      return typeof x === 'object' && x !== null && isCount(x.from) && isCount(x.to) &&
        (x.from as number) < (x.to as number) && (x.from as number) >= expected.start && (x.to as number) <= expected.end
    })
    if (!ok) return { fatal: `skipped is not a list of offset ranges inside the cut ${expected.start}..${expected.end}`, files: [] }
  }
  const files: string[] = []
  let records = 0
  for (const [i, f] of (r.files as unknown[]).entries()) {
    const file = f as Partial<Record<keyof CutFile, unknown>> | null
    const bad = typeof file !== 'object' || file === null || typeof file.key !== 'string' ||
      !isCount(file.bytes) || !isCount(file.records) || !isCount(file.firstOffset) || !isCount(file.lastOffset) ||
      typeof file.sha256 !== 'string' || !SHA256.test(file.sha256)
    if (bad) return { fatal: `files[${i}] lacks key, bytes, records, offsets or a sha256`, files }
    const fo = file.firstOffset as number
    const lo = file.lastOffset as number
    if (fo < expected.start || lo >= expected.end || lo < fo) {
      files.push(`${String(file.key)}: offsets ${fo}..${lo + 1} are outside the cut ${expected.start}..${expected.end}`)
    }
    records += file.records as number
  }
  if (records > expected.end - expected.start) {
    files.push(`${records} records in ${expected.end - expected.start} offsets`)
  }
  return { files }
}

function isCount (v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return null
  }
}

function coverageEnd (manifests: ManifestEntry[]): number {
  return manifests.reduce((end, m) => Math.max(end, m.end), -1)
}

function tpKey (topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, pending: 1, warning: 2, info: 3 }

function sortFindings (findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) =>
    SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
    (a.topic ?? '').localeCompare(b.topic ?? '') ||
    (a.partition ?? -1) - (b.partition ?? -1) ||
    FindingKinds.indexOf(a.kind) - FindingKinds.indexOf(b.kind) ||
    (a.range?.start ?? -1) - (b.range?.start ?? -1) ||
    (a.key ?? '').localeCompare(b.key ?? ''))
}

async function forEachLimit<T> (items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T
      await fn(item)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
}

export function formatBytes (n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${(n / size).toFixed(1)} ${unit}`
  }
  return `${n} B`
}
