/**
 * `sink.type: azure` settings, validated here (without loading the Azure SDK, which only azure-store.ts does).
 */
import { ConfigError } from '../errors.js'
import type { SinkConfig } from '../config/types.js'
import { isAbsent, nonEmptyString, optional, required, secretString } from '../config/options.js'

export const azureOnlyKeys = ['container', 'connectionString', 'containerUrl'] as const

export function azureSinkConfig (obj: Record<string, unknown>, path: string): Pick<SinkConfig, 'container' | 'connectionString' | 'containerUrl'> {
  if (isAbsent(obj.connectionString) === isAbsent(obj.containerUrl)) {
    throw new ConfigError(path, 'sink.type "azure" needs exactly one of connectionString (or SEDIMENT_SINK_AZURE_CONNECTION_STRING) or containerUrl (a container SAS URL, or SEDIMENT_SINK_AZURE_CONTAINER_URL)')
  }
  const connectionString = optional(obj.connectionString, `${path}.connectionString`, secretString)
  if (connectionString !== undefined) {
    if (!/(^|;)(AccountName=[^;]+;.*AccountKey=|BlobEndpoint=|SharedAccessSignature=|UseDevelopmentStorage=true)/.test(connectionString)) {
      throw new ConfigError(`${path}.connectionString`, 'is not an Azure Storage connection string (AccountName=...;AccountKey=... or BlobEndpoint=...;SharedAccessSignature=...)')
    }
    const container = required(obj.container, `${path}.container`, containerName)
    return { container, connectionString }
  }
  const url = secretString(obj.containerUrl, `${path}.containerUrl`)
  let parsed: URL
  try { parsed = new URL(url) } catch { throw new ConfigError(`${path}.containerUrl`, 'must be a URL (https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS)') }
  if (parsed.protocol !== 'https:' && !['127.0.0.1', 'localhost'].includes(parsed.hostname)) throw new ConfigError(`${path}.containerUrl`, 'must be https')
  if (!isAbsent(obj.container)) throw new ConfigError(`${path}.container`, 'not with containerUrl (the URL names the container)')
  return { containerUrl: url }
}

function containerName (value: unknown, path: string): string {
  const name = nonEmptyString(value, path)
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name)) throw new ConfigError(path, `must be an Azure container name (3-63 of a-z, 0-9, single '-'), got "${name}"`)
  return name
}

/** `abfss://container@account.dfs.core.windows.net` style base for catalogs, or undefined when unknown. */
export function azureAccountOf (sink: Pick<SinkConfig, 'connectionString' | 'containerUrl'>): string | undefined {
  const fromCs = /(?:^|;)AccountName=([^;]+)/.exec(sink.connectionString ?? '')?.[1]
  if (fromCs !== undefined) return fromCs
  if (sink.containerUrl !== undefined) return new URL(sink.containerUrl).hostname.split('.')[0]
  return undefined
}
