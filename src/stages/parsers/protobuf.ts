import { access } from 'node:fs/promises'
import protobuf from 'protobufjs'
import { ConfigError, errorMessage } from '../../errors.js'
import { Reasons, badRecord, shortMessage, type ValueParser } from './common.js'
import { decodedRecordSink, type DecodedOptions } from './decoded.js'

export interface ProtobufParserOptions extends DecodedOptions {
  /** Absolute path of the .proto file (imports resolve relative to it; google/protobuf/* are built in). */
  file: string
  /** Fully qualified message name, e.g. `shop.v1.OrderEvent`. */
  messageType: string
}

/**
 * How a decoded message is rendered (protobufjs toObject): enums as their names, 64-bit integers as bigints
 * (then numbers when safe, else strings, see render.ts), bytes as base64, NaN/Infinity as strings. Fields at
 * their default value are left out, as in protobuf's JSON mapping: proto3 cannot tell an unset field from a
 * zero one, and a timestamp of 0 must count as absent (parser.fallback), not as 1970. Field names are those of
 * the .proto file (keepCase), so paths in the config are written as in the .proto.
 */
const TO_OBJECT: protobuf.IConversionOptions = { longs: BigInt, enums: String, bytes: String, defaults: false, arrays: false, objects: false, oneofs: false, json: true }

/** Loads the .proto file (async, once, before the first batch) and returns the `protobuf` parser. */
export async function loadProtobufParser (options: ProtobufParserOptions): Promise<ValueParser> {
  const { file, messageType } = options
  try {
    await access(file)
  } catch (err) {
    throw new ConfigError('parser.protobuf.file', `cannot read ${file}: ${errorMessage(err)}`, { cause: err })
  }
  let root: protobuf.Root
  try {
    root = await new protobuf.Root().load(file, { keepCase: true })
  } catch (err) {
    throw new ConfigError('parser.protobuf.file', `cannot load ${file}: ${errorMessage(err)}`, { cause: err })
  }
  let type: protobuf.Type
  try {
    type = root.lookupType(messageType)
  } catch (err) {
    const known = root.nestedArray.length > 0 ? ` (types in ${file}: ${messageTypes(root).slice(0, 10).join(', ')})` : ''
    throw new ConfigError('parser.protobuf.messageType', `no message type "${messageType}" in ${file}${known}`, { cause: err })
  }
  const sink = decodedRecordSink(options, `protobuf ${type.name}`, 'a message')
  const invalid = `not a valid ${messageType} protobuf message`
  return (value, record, partition, out) => {
    if (value === null) {
      out.bad.push(badRecord(record, partition, Reasons.TOMBSTONE, value))
      return
    }
    // An empty value is a valid message with every field at its default; its timestamp is then absent.
    let decoded: unknown
    try {
      decoded = type.toObject(type.decode(value), TO_OBJECT)
    } catch (err) {
      out.bad.push(badRecord(record, partition, `${invalid}: ${shortMessage(err)}`, value))
      return
    }
    sink(decoded, value, record, partition, out)
  }
}

function messageTypes (ns: protobuf.NamespaceBase): string[] {
  const names: string[] = []
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) names.push(nested.fullName.replace(/^\./, ''))
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) names.push(...messageTypes(nested))
  }
  return names
}
