/** Reads a config file (YAML or JSON; JSON is YAML), applies SEDIMENT_* environment overrides, validates it. */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { ConfigError, errorMessage } from '../errors.js'
import { activeEnvOverrides, applyEnvOverrides, envOverrides, validateConfig } from './options.js'
import type { SedimentConfig } from './types.js'
import { resolveParserPaths } from '../stages/parsers/registry.js'

export async function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): Promise<SedimentConfig> {
  const raw = applyEnvOverrides(parseConfigText(await readConfigFile(file), file), env)
  let config: SedimentConfig
  try {
    config = validateConfig(raw)
  } catch (err) {
    throw blameEnv(err, env)
  }
  // Files the parser section names are relative to the config file, wherever the service is started from.
  resolveParserPaths(config.parser, dirname(resolve(file)))
  for (const o of config.topicOverrides ?? []) resolveParserPaths(o.parser, dirname(resolve(file)))
  return config
}

async function readConfigFile (file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : errorMessage(err)
    throw new ConfigError('', `cannot read config file ${file}: ${reason}`, { cause: err })
  }
}

/** Parses YAML 1.2 (a superset of JSON); duplicate keys are errors, as they are almost always mistakes. */
export function parseConfigText (text: string, file: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true })
  const error = doc.errors[0]
  if (error !== undefined) {
    // The yaml message is "<reason> at line L, column C:\n\n<excerpt>"; keep it on one line.
    const reason = error.message.split(/ at line \d+/)[0]
    const at = error.linePos?.[0]
    const where = at === undefined ? '' : ` at line ${at.line}, column ${at.col}`
    throw new ConfigError('', `cannot parse config file ${file}${where}: ${reason}`, { cause: error })
  }
  const raw: unknown = doc.toJS()
  if (raw === null || raw === undefined) throw new ConfigError('', `config file ${file} is empty`)
  return raw
}

/** An error in a value that came from the environment should name the variable, not just the config path. */
function blameEnv (err: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!(err instanceof ConfigError) || err.path === '') return err
  const culprit = activeEnvOverrides(env).find(name => {
    const path = envOverrides[name]
    const below = err.path === path || err.path.startsWith(`${path}.`) || err.path.startsWith(`${path}[`)
    // e.g. "sink.credentials: not allowed ..." is caused by SEDIMENT_SINK_ACCESS_KEY_ID; but a whole-section
    // error like "kafka: exactly one of topics or topicPattern" is not caused by SEDIMENT_KAFKA_BROKERS.
    const above = err.path.includes('.') && path.startsWith(`${err.path}.`)
    return below || above
  })
  if (culprit === undefined) return err
  const message = err.message.slice(err.path.length + 2)
  return new ConfigError(err.path, `${message} (set by ${culprit})`, { cause: err })
}
