/**
 * How `sediment verify` prints: a table per topic-partition and the findings (stdout), or the report as JSON
 * (`--json`); progress lines go to stderr so that stdout stays parseable.
 */
import { formatBytes, type Finding, type VerifyProgress, type VerifyReport, type VerifyStatus } from './verify.js'

const RESULT: Record<VerifyStatus, string> = {
  complete: 'COMPLETE: every committed offset is in the bucket, each object intact and accounted for',
  pending: 'PENDING: consistent so far, but committed cuts await completion by the partition\'s next owner',
  unconfirmed: 'UNCONFIRMED: the bucket is consistent, but completeness against Kafka cannot be confirmed',
  incomplete: 'INCOMPLETE: data is missing or inconsistent (see the errors above)'
}

/** The human-readable report. */
export function formatReport (report: VerifyReport): string {
  const lines: string[] = []
  const checks = report.checksums ? `sizes and sha256 of ${report.totals.checksummed} objects checked` : 'sizes checked (no checksums)'
  lines.push(`Verified ${report.location} (generation ${report.generation}, group ${report.groupId}): ${checks}, in ${(report.durationMs / 1000).toFixed(1)} s`)
  lines.push(report.kafka.consulted
    ? `Kafka: ${report.kafka.location ?? ''} (committed offsets and watermarks read)`
    : report.kafka.error !== null
      ? `Kafka: UNREACHABLE (${report.kafka.error})`
      : 'Kafka: not consulted')
  lines.push('')

  const header = ['TOPIC', 'PARTITION', 'STATUS', 'MANIFESTS', 'OBJECTS', 'RECORDS', 'SIZE', 'COVERED', 'COMMITTED', 'KAFKA LOW..HIGH']
  const rows = report.partitions.map((p) => [
    p.topic,
    String(p.partition),
    p.status,
    String(p.manifests),
    String(p.objects),
    String(p.records),
    formatBytes(p.bytes),
    p.coverage === null ? '-' : `${p.coverage.start}..${p.coverage.end}`,
    p.committed === null ? '-' : String(p.committed),
    p.low === null || p.high === null ? '-' : `${p.low}..${p.high}`
  ])
  const t = report.totals
  rows.push(['TOTAL', String(t.partitions), '', String(t.manifests), String(t.objects), String(t.records), formatBytes(t.bytes), '', '', ''])
  lines.push(...table(header, rows, new Set([1, 3, 4, 5, 6, 8])))
  lines.push('')

  const info = report.findings.length - t.errors - t.pending - t.warnings
  if (report.findings.length === 0) {
    lines.push('Findings: none')
  } else {
    lines.push(`Findings: ${t.errors} errors, ${t.pending} pending, ${t.warnings} warnings, ${info} notes`)
    const width = Math.max(...report.findings.map((f) => where(f).length))
    for (const f of report.findings) lines.push(`  ${f.severity.toUpperCase().padEnd(7)}  ${where(f).padEnd(width)}  ${f.kind}: ${f.message}`)
  }
  lines.push('')
  lines.push(RESULT[report.status])
  return lines.join('\n')
}

/** The report for machines: stable field names (see VerifyReport), offsets as numbers, ranges [start, end). */
export function formatJson (report: VerifyReport): string {
  return JSON.stringify(report, null, 2)
}

/** One progress line for stderr. */
export function formatProgress (progress: VerifyProgress): string {
  return `verify: ${progress.message}`
}

function where (f: Finding): string {
  if (f.topic === undefined) return '-'
  return f.partition === undefined ? f.topic : `${f.topic}[${f.partition}]`
}

/** Columns padded to their widest cell; `right` lists the numeric columns. */
function table (header: string[], rows: string[][], right: Set<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)]
}
