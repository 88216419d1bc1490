/**
 * The parser factory: validates parser options synchronously (ConfigErrors name their `parser.*` path, so a
 * library user of parseStage gets the service's messages) and composes what the stage runs:
 *
 *   [split: lines] → base parser (json, kafka-timestamp, header, regex, msgpack, protobuf, avro, custom)
 *                  → [transform from parser.module]
 *
 * with the shared rules (event-time conversion, timestampFormat/timezone, fallback, fields) compiled into the
 * base parser. Parsers that need files, a module or a registry are loaded asynchronously by `load()`; the others
 * are ready at once, so the JSON fast path has no setup at all.
 */
import { isAbsolute, resolve } from 'node:path'
import { ParserTypes, SplitModes, type ParserType } from '../../config/types.js'
import { ConfigError } from '../../errors.js'
import { compileFieldPath } from '../field-path.js'
import type { LoadedParser, ValueParser } from './common.js'
import { compileEventTime, type EventTime } from './event-time.js'
import { fieldSpecs, type FieldSpec } from './fields.js'
import { jsonParser } from './json.js'
import { kafkaTimestampParser } from './kafka-timestamp.js'
import { headerParser } from './header.js'
import { compileRegex, regexParser } from './regex.js'
import { msgpackParser } from './msgpack.js'
import { thriftParser } from './thrift.js'
import { ThriftProtocols } from './thrift-codec.js'
import { customParser, loadParserModule, withTransform } from './custom-module.js'
import { splitLines } from './split.js'
import type { ParserOptions } from './parser-options.js'

export interface ParserPlan {
  /** The parser, when it needs no asynchronous setup. */
  ready?: LoadedParser
  /** Loads it (read files, import the module, await its init); ConfigError for what cannot be loaded. */
  load: () => Promise<LoadedParser>
}

/** Parser types whose messages are text, so that `split: lines` makes sense. */
const LINE_TYPES: readonly ParserType[] = ['json', 'kafka-timestamp', 'header', 'regex', 'custom']

/** Sections that belong to one parser type each. */
const TYPE_SECTIONS = { header: 'header', regex: 'regex', protobuf: 'protobuf', avro: 'avro', thrift: 'thrift' } as const

/** The group-name syntax of JavaScript regular expressions (ASCII subset). */
const GROUP_NAME = /^[A-Za-z_$][\w$]*$/

export function planParser (options: ParserOptions): ParserPlan {
  const type = options.type
  if (!(ParserTypes as readonly string[]).includes(type)) {
    throw new ConfigError('parser.type', `must be one of ${ParserTypes.join(', ')}, got ${String(type)}`)
  }
  for (const [key, owner] of Object.entries(TYPE_SECTIONS)) {
    if (options[key as keyof typeof TYPE_SECTIONS] !== undefined && type !== owner) {
      throw new ConfigError(`parser.${key}`, `only applies to parser.type "${owner}", got type "${type}"`)
    }
  }
  const split = options.split ?? 'none'
  if (!(SplitModes as readonly string[]).includes(split)) {
    throw new ConfigError('parser.split', `must be one of ${SplitModes.map(m => `"${m}"`).join(', ')}, got ${JSON.stringify(split)}`)
  }
  if (split === 'lines' && !LINE_TYPES.includes(type)) {
    throw new ConfigError('parser.split', `"lines" needs a text parser (${LINE_TYPES.join(', ')}); ${type} messages are binary`)
  }
  if (type === 'custom' && options.module === undefined) {
    throw new ConfigError('parser.module', 'is required for parser.type "custom" (a file exporting parse(message))')
  }
  const eventTime = compileEventTime(options)
  const fields = fieldSpecs(options.fields)
  const baseDir = options.baseDir ?? process.cwd()
  const file = (value: string | undefined, path: string): string => {
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(path, `is required for the ${type} parser`)
    return isAbsolute(value) ? value : resolve(baseDir, value)
  }

  const compose = async (base: ValueParser, prepare?: LoadedParser['prepare']): Promise<LoadedParser> => {
    let parse = base
    if (options.module !== undefined && type !== 'custom') {
      const mod = await loadParserModule(options.module, 'transform', baseDir)
      parse = withTransform(parse, mod.transform as NonNullable<typeof mod.transform>, { eventTime, fields, jsonDoc: type === 'json' })
    }
    if (split === 'lines') parse = splitLines(parse)
    return prepare === undefined ? { parse } : { parse, prepare }
  }
  const syncPlan = (base: ValueParser): ParserPlan => {
    if (options.module !== undefined) return { load: async () => await compose(base) }
    const ready: LoadedParser = { parse: split === 'lines' ? splitLines(base) : base }
    return { ready, load: async () => ready }
  }

  switch (type) {
    case 'json': {
      const field = options.timestampField
      if (field === undefined) throw new ConfigError('parser.timestampField', 'is required for the json parser')
      compileFieldPath(field)
      return syncPlan(jsonParser({ timestampField: field, eventTime, fields }))
    }
    case 'kafka-timestamp':
      return syncPlan(kafkaTimestampParser(fields, options.keepLineBreaks === true))
    case 'header': {
      const header = options.header
      if (header === undefined) throw new ConfigError('parser.header', 'is required for the header parser: { name: <header holding the timestamp> }')
      return syncPlan(headerParser({ name: header.name, ...(header.encoding !== undefined ? { encoding: header.encoding } : {}), eventTime, fields, keepLineBreaks: options.keepLineBreaks === true }))
    }
    case 'regex': {
      const regex = options.regex
      if (regex === undefined) throw new ConfigError('parser.regex', 'is required for the regex parser: { pattern: <regular expression with named groups> }')
      compileRegex(regex.pattern, regex.flags ?? '')
      const group = options.timestampField ?? 'timestamp'
      if (!GROUP_NAME.test(group)) throw new ConfigError('parser.timestampField', `names the regex group holding the timestamp, so it must be a group name (letters, digits, _ or $), got "${group}"`)
      return syncPlan(regexParser({ pattern: regex.pattern, ...(regex.flags !== undefined ? { flags: regex.flags } : {}), timestampGroup: group, eventTime, fields }))
    }
    case 'msgpack':
      return syncPlan(msgpackParser(decodedOptions(options, eventTime, fields)))
    case 'thrift': {
      const protocol = options.thrift?.protocol ?? 'binary'
      if (!ThriftProtocols.includes(protocol)) throw new ConfigError('parser.thrift.protocol', `must be "binary" or "compact", got ${JSON.stringify(protocol)}`)
      if (options.timestampField === undefined) throw new ConfigError('parser.timestampField', 'is required for the thrift parser: the field id of the timestamp, or a dotted path of ids (e.g. "1" or "3.2")')
      if (!/^\d+(\.\d+)*$/.test(options.timestampField)) throw new ConfigError('parser.timestampField', `thrift fields are named by id: a field id or a dotted path of ids (e.g. "1" or "3.2"), got "${options.timestampField}"`)
      return syncPlan(thriftParser({ ...decodedOptions(options, eventTime, fields), protocol }))
    }
    case 'protobuf': {
      const proto = options.protobuf
      if (proto === undefined) throw new ConfigError('parser.protobuf', 'is required for the protobuf parser: { file: <.proto file>, messageType: <package.Message> }')
      const protoFile = file(proto.file, 'parser.protobuf.file')
      if (typeof proto.messageType !== 'string' || proto.messageType.trim() === '') throw new ConfigError('parser.protobuf.messageType', 'is required for the protobuf parser (a message name like "shop.v1.Order")')
      const decoded = decodedOptions(options, eventTime, fields)
      return {
        load: async () => {
          // protobufjs and avsc are imported only when used: config validation and the CLI stay light.
          const { loadProtobufParser } = await import('./protobuf.js')
          return await compose(await loadProtobufParser({ ...decoded, file: protoFile, messageType: proto.messageType.trim() }))
        }
      }
    }
    case 'avro': {
      const a = options.avro
      if (a === undefined || (a.schemaFile === undefined) === (a.registryUrl === undefined)) {
        throw new ConfigError('parser.avro', 'needs exactly one of schemaFile (plain Avro binary) or registryUrl (Confluent wire format)')
      }
      const schemaFile = a.schemaFile === undefined ? undefined : file(a.schemaFile, 'parser.avro.schemaFile')
      if (a.registryUrl !== undefined) registryUrl(a.registryUrl)
      const decoded = decodedOptions(options, eventTime, fields)
      return {
        load: async () => {
          const { loadAvroParser } = await import('./avro.js')
          const loaded = await loadAvroParser({
            ...decoded,
            ...(schemaFile !== undefined ? { schemaFile } : { registryUrl: a.registryUrl as string }),
            ...(options.logger !== undefined ? { logger: options.logger } : {}),
            ...(options.signal !== undefined ? { signal: options.signal } : {})
          })
          return await compose(loaded.parse, loaded.prepare)
        }
      }
    }
    case 'custom': {
      const spec = options.module as NonNullable<ParserOptions['module']>
      return {
        load: async () => {
          const mod = await loadParserModule(spec, 'parse', baseDir)
          const base = customParser(mod.parse as NonNullable<typeof mod.parse>, { eventTime, fields })
          return { parse: split === 'lines' ? splitLines(base) : base }
        }
      }
    }
  }
}

function decodedOptions (options: ParserOptions, eventTime: EventTime, fields: FieldSpec[]): { timestampField: string, eventTime: EventTime, fields: FieldSpec[] } {
  const field = options.timestampField ?? 'timestamp'
  compileFieldPath(field)
  return { timestampField: field, eventTime, fields }
}

function registryUrl (url: unknown): void {
  let protocol = ''
  try {
    protocol = new URL(String(url)).protocol
  } catch {}
  if (protocol !== 'http:' && protocol !== 'https:') throw new ConfigError('parser.avro.registryUrl', 'must be an http:// or https:// URL')
}

/** A one-line description of the parser settings (for `sediment validate`). */
export function describeParser (options: ParserOptions): string {
  const parts: string[] = []
  switch (options.type) {
    case 'json': parts.push(`json, event time from "${options.timestampField ?? 'timestamp'}"`); break
    case 'kafka-timestamp': parts.push('kafka record timestamp'); break
    case 'header': parts.push(`event time from header "${options.header?.name ?? ''}"${options.header?.encoding === 'int64be' ? ' (int64be)' : ''}`); break
    case 'regex': parts.push(`regex, event time from group "${options.timestampField ?? 'timestamp'}"`); break
    case 'msgpack': parts.push(`msgpack, event time from "${options.timestampField ?? 'timestamp'}"`); break
    case 'protobuf': parts.push(`protobuf ${options.protobuf?.messageType ?? ''}, event time from "${options.timestampField ?? 'timestamp'}"`); break
    case 'avro': parts.push(`avro (${options.avro?.registryUrl !== undefined ? 'schema registry' : 'schema file'}), event time from "${options.timestampField ?? 'timestamp'}"`); break
    case 'thrift': parts.push(`thrift ${options.thrift?.protocol ?? 'binary'}, event time from field ${options.timestampField ?? ''}`); break
    case 'custom': parts.push('custom module'); break
  }
  if (options.timestampFormat !== undefined) parts.push(`format "${options.timestampFormat}"${options.timezone !== undefined ? ` in ${options.timezone}` : ''}`)
  if (options.fallback !== undefined && options.fallback.policy !== 'error') parts.push(`fallback ${options.fallback.policy}${options.fallback.date !== undefined ? ` ${options.fallback.date}` : ''}`)
  if (options.fields !== undefined && Object.keys(options.fields).length > 0) parts.push(`fields ${Object.keys(options.fields).join(', ')}`)
  if (options.split === 'lines') parts.push('one record per line')
  if (options.module !== undefined && options.type !== 'custom') parts.push('with a transform module')
  return parts.join('; ')
}

/**
 * Makes the parser's relative file paths (module, protobuf.file, avro.schemaFile) absolute against `baseDir`, in
 * place. loadConfig calls it with the config file's directory; without it (validateConfig, a library user),
 * relative paths are resolved against ParserOptions.baseDir or the current directory when the parser loads.
 */
export function resolveParserPaths (parser: Pick<ParserOptions, 'module' | 'protobuf' | 'avro'>, baseDir: string): void {
  const abs = (p: string): string => isAbsolute(p) ? p : resolve(baseDir, p)
  if (typeof parser.module === 'string') parser.module = abs(parser.module)
  if (parser.protobuf !== undefined) parser.protobuf = { ...parser.protobuf, file: abs(parser.protobuf.file) }
  if (parser.avro?.schemaFile !== undefined) parser.avro = { ...parser.avro, schemaFile: abs(parser.avro.schemaFile) }
}
