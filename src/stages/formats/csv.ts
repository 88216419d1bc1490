import type { OutputGroup } from '../../types.js'
import { MISSING, compileFieldPath, type FieldGetter } from '../field-path.js'
import type { EncodedRecords, GroupEncoder, Rejected } from './format.js'
import { kafkaMeta, recordDoc } from './kafka-meta.js'
import { shortMessage } from '../parsers/common.js'

export interface CsvOptions {
  /** Field paths, in column order. */
  columns: string[]
  /** One character (default ','). */
  delimiter?: string
  /** Kafka metadata columns first: offset, partition, key, timestamp (ms), headers (JSON). */
  wrap?: boolean
}

export const NOT_AN_OBJECT = 'not a JSON object: cannot be written as columns'

/**
 * The reason of a record whose encoding threw (e.g. JSON.stringify of a value nested thousands deep exceeds the
 * stack): such a record goes to the error output instead of failing its group, which would stop the partition.
 */
export function unencodable (format: string, err: unknown): string {
  return `cannot be encoded as ${format}: ${shortMessage(err)}`
}

/**
 * Delimited text without a header: one line per record ('\n'-terminated), the configured fields in order.
 * A field is quoted per RFC 4180 when it contains the delimiter, a quote, CR or LF (quotes doubled inside) and
 * when it is an empty string, so that an empty string ("") and an absent or null field (nothing) differ.
 * Numbers and booleans are written as JSON writes them; objects and arrays as their JSON text.
 */
export function csvEncoder (options: CsvOptions): GroupEncoder {
  const getters: FieldGetter[] = options.columns.map((c, i) => compileFieldPath(c, `output.columns[${i}]`))
  const delimiter = options.delimiter ?? ','
  const wrap = options.wrap === true
  const cell = (value: unknown): string => {
    if (value === MISSING || value === null || value === undefined) return ''
    const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value)
    if (text === '') return '""'
    if (text.includes(delimiter) || /["\r\n]/.test(text)) return `"${text.replace(/"/g, '""')}"`
    return text
  }
  return {
    extension: '.csv',
    assembled: false,
    encode: (group: OutputGroup, partition: number): EncodedRecords => {
      const { offsets, values, records } = group
      const rejected: Rejected[] = []
      let out = ''
      for (let i = 0; i < values.length; i++) {
        const record = records?.[i]
        const doc = recordDoc(record, values[i] as Buffer)
        if (doc === undefined) {
          rejected.push({ index: i, reason: NOT_AN_OBJECT })
          continue
        }
        let line = ''
        try {
          if (wrap) {
            const m = kafkaMeta(record, offsets[i] as number, partition)
            line = [m.offset, m.partition, cell(m.key), m.timestamp ?? '', cell(m.headersJson)].join(delimiter) + delimiter
          }
          for (let c = 0; c < getters.length; c++) {
            if (c > 0) line += delimiter
            line += cell((getters[c] as FieldGetter)(doc))
          }
        } catch (err) {
          rejected.push({ index: i, reason: unencodable('csv', err) })
          continue
        }
        out += line + '\n'
      }
      return { data: Buffer.from(out, 'utf8'), rejected }
    }
  }
}
