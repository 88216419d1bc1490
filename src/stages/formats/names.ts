/**
 * Column names the output formats add themselves. Kept apart (and dependency-free) so that config validation
 * can refuse schema columns that would collide with them.
 */

/** Parquet: the record's fields that have no column or whose value does not fit its column, as a JSON object. */
export const EXTRA_COLUMN = '_extra'

/** csv and parquet with `output.wrap`: the Kafka metadata columns, first, in this order. */
export const WRAP_COLUMNS = ['kafka_offset', 'kafka_partition', 'kafka_key', 'kafka_timestamp', 'kafka_headers'] as const
