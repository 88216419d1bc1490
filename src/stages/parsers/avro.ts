import { readFile } from 'node:fs/promises'
import avro from 'avsc'
import type { Logger } from 'pino'
import type { KafkaRecord } from '../../types.js'
import { ConfigError, errorMessage } from '../../errors.js'
import { Reasons, badRecord, shortMessage, type LoadedParser } from './common.js'
import { decodedRecordSink, type DecodedOptions } from './decoded.js'
import { SchemaFailure, SchemaRegistry } from './schema-registry.js'

/**
 * Avro longs as bigints (avsc's default long type refuses values beyond 2^53); rendered as numbers when safe,
 * else strings (render.ts).
 */
const LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8)
    buf.writeBigInt64LE(BigInt(n))
    return buf
  },
  fromJSON: (n: number | string) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1)
})

/**
 * Unions are decoded unwrapped (`{"amount": 5}`, not `{"amount": {"long": 5}}`); enums are their symbol names;
 * bytes and fixed become base64; logical types stay their underlying type (a timestamp-millis is a long, which
 * the event-time rules read by magnitude).
 */
export function compileAvroSchema (schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { wrapUnions: 'never', registry: { long: LONG } })
}

export interface AvroParserOptions extends DecodedOptions {
  /** Absolute path of an .avsc file: each message is one record in plain Avro binary encoding. */
  schemaFile?: string
  /** Confluent wire format (magic byte 0, 4-byte schema id, Avro binary); schemas from this registry. */
  registryUrl?: string
  logger?: Logger
  signal?: AbortSignal
}

/** Reads the schema file, or sets up the registry client (no request until the first message). */
export async function loadAvroParser (options: AvroParserOptions): Promise<LoadedParser> {
  if (options.schemaFile !== undefined) {
    const type = await schemaFromFile(options.schemaFile)
    const sink = decodedRecordSink(options, 'Avro', 'a record')
    return {
      parse: (value, record, partition, out) => {
        if (value === null) {
          out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
          return
        }
        let decoded: unknown
        try {
          decoded = type.fromBuffer(value)
        } catch (err) {
          out.bad.push(badRecord(record, partition, `not Avro of the schema in parser.avro.schemaFile: ${shortMessage(err)}`, value))
          return
        }
        sink(decoded, value, record, partition, out)
      }
    }
  }
  return registryParser(options)
}

async function schemaFromFile (file: string): Promise<avro.Type> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError('parser.avro.schemaFile', `cannot read ${file}: ${errorMessage(err)}`, { cause: err })
  }
  try {
    return compileAvroSchema(JSON.parse(text))
  } catch (err) {
    throw new ConfigError('parser.avro.schemaFile', `${file} is not a valid Avro schema: ${errorMessage(err)}`, { cause: err })
  }
}

const WIRE_HEADER = 5

function registryParser (options: AvroParserOptions): LoadedParser {
  const registry = new SchemaRegistry({
    url: options.registryUrl as string,
    compile: compileAvroSchema,
    ...(options.logger !== undefined ? { logger: options.logger.child({ component: 'schema-registry' }) } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {})
  })
  const sink = decodedRecordSink(options, 'Avro', 'a record')
  return {
    prepare: records => {
      const ids = new Set<number>()
      for (let i = 0; i < records.length; i++) {
        const value = (records[i] as KafkaRecord).value
        if (value === null || value.length < WIRE_HEADER || value[0] !== 0) continue
        ids.add(value.readInt32BE(1))
      }
      return ids.size === 0 ? undefined : registry.prepare(ids)
    },
    parse: (value, record, partition, out) => {
      if (value === null) {
        out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
        return
      }
      if (value.length < WIRE_HEADER) {
        out.bad.push(badRecord(record, partition, `not Confluent wire format: ${value.length} bytes, shorter than the 5-byte header (magic byte 0, schema id)`, value))
        return
      }
      if (value[0] !== 0) {
        out.bad.push(badRecord(record, partition, `not Confluent wire format: magic byte 0x${(value[0] as number).toString(16).padStart(2, '0')}, expected 0x00`, value))
        return
      }
      const id = value.readInt32BE(1)
      const type = registry.get(id)
      if (type === undefined || type instanceof SchemaFailure) {
        // undefined only if a caller skipped prepare(): still an error record, never a throw.
        out.bad.push(badRecord(record, partition, type?.reason ?? `schema id ${id} was not fetched`, value))
        return
      }
      let decoded: unknown
      try {
        decoded = type.fromBuffer(value.subarray(WIRE_HEADER))
      } catch (err) {
        out.bad.push(badRecord(record, partition, `not Avro of schema id ${id}: ${shortMessage(err)}`, value))
        return
      }
      sink(decoded, value, record, partition, out)
    }
  }
}
