import { Decoder } from '@msgpack/msgpack'
import { badRecord, hasBytes, shortMessage, type ValueParser } from './common.js'
import { decodedRecordSink, type DecodedOptions } from './decoded.js'

/**
 * The `msgpack` parser: one MessagePack map per message (trailing bytes are an error). 64-bit integers are
 * decoded as bigints and rendered as numbers when safe, else strings; bin as base64; the timestamp extension as
 * an ISO-8601 string (see render.ts).
 */
export function msgpackParser (options: DecodedOptions): ValueParser {
  // One decoder, reused: it caches decoded map keys, which repeat from message to message.
  const decoder = new Decoder({ useBigInt64: true })
  const sink = decodedRecordSink(options, 'MessagePack')
  return (value, record, partition, out) => {
    if (!hasBytes(value, record, partition, out)) return
    let decoded: unknown
    try {
      decoded = decoder.decode(value)
    } catch (err) {
      out.bad.push(badRecord(record, partition, `not MessagePack: ${shortMessage(err)}`, value))
      return
    }
    sink(decoded, value, record, partition, out)
  }
}
