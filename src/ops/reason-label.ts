/**
 * Bad-record reasons are free text (they quote offending values and JSON.parse messages); as a metric label
 * they must come from a small fixed set, or every distinct bad value would create a new time series.
 */

export const BadReasonLabels = [
  'tombstone', 'empty', 'invalid_utf8', 'line_break', 'too_large', 'invalid_kafka_timestamp',
  'not_json', 'truncated_json', 'not_object', 'missing_timestamp', 'invalid_timestamp',
  'before_not_before', 'too_far_in_future', 'other'
] as const
export type BadReasonLabel = (typeof BadReasonLabels)[number]

/** Reason prefixes (src/stages/parse.ts Reasons, JSON errors, src/stages/timestamp.ts) → label; first match wins. */
const PREFIXES: ReadonlyArray<readonly [string, BadReasonLabel]> = [
  ['tombstone', 'tombstone'],
  ['empty value', 'empty'],
  ['invalid UTF-8', 'invalid_utf8'],
  ['value contains a line break', 'line_break'],
  ['message too large', 'too_large'],
  ['invalid Kafka record timestamp', 'invalid_kafka_timestamp'],
  ['not JSON', 'not_json'],
  ['truncated JSON', 'truncated_json'],
  ['JSON top level is', 'not_object'],
  ['missing timestamp', 'missing_timestamp'],
  ['timestamp before notBefore', 'before_not_before'],
  ['timestamp too far in the future', 'too_far_in_future']
]

/** What toEpochMillis returns for a value that is present but not a usable time. */
const INVALID_TIMESTAMP = /^(?:(?:boolean|null|array|object|function|symbol) timestamp|timestamp is |negative timestamp|timestamp out of range|empty timestamp string|unparseable date|non-numeric timestamp)/

export function badReasonLabel (reason: string): BadReasonLabel {
  for (const [prefix, label] of PREFIXES) if (reason.startsWith(prefix)) return label
  return INVALID_TIMESTAMP.test(reason) ? 'invalid_timestamp' : 'other'
}
