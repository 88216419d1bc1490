import { badRecord, hasBytes, shortMessage, type ValueParser } from './common.js'
import { decodedRecordSink, type DecodedOptions } from './decoded.js'
import { decodeThriftStruct, type ThriftProtocol } from './thrift-codec.js'

/**
 * The `thrift` parser: one Thrift struct per message in the binary or compact protocol, read without an IDL
 * (see thrift-codec.ts). Fields are named by their ids, so `timestampField` is a dotted path of ids (`1`, `3.2`);
 * the record is written as JSON keyed by field id, the original bytes stay available to raw output.
 */
export function thriftParser (options: DecodedOptions & { protocol: ThriftProtocol }): ValueParser {
  const sink = decodedRecordSink(options, 'Thrift', 'a struct')
  const what = `Thrift ${options.protocol}`
  return (value, record, partition, out) => {
    if (!hasBytes(value, record, partition, out)) return
    let decoded
    try {
      decoded = decodeThriftStruct(value, options.protocol)
    } catch (err) {
      out.bad.push(badRecord(record, partition, `not a ${what} struct: ${shortMessage(err)}`, value))
      return
    }
    sink(decoded, value, record, partition, out)
  }
}
