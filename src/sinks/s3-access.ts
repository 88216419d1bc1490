/**
 * What S3 writes carry (server-side encryption, storage class, tags, canned ACL) and who signs them (an assumed
 * role): validation of the `sink` keys, the request parameters S3Store adds, and the client's credentials.
 * Kept apart from s3-store.ts so the store's client settings (timeouts, checksums) stay one concern.
 */
import type { S3ClientConfig } from '@aws-sdk/client-s3'
import { ConfigError } from '../errors.js'
import { S3StorageClasses, type S3AccessConfig } from '../config/types.js'
import { boolean, httpUrl, integer, isPlainObject, nonEmptyString, oneOf, optional, required, section, withDefault } from '../config/options.js'

export type S3AccessOptions = S3AccessConfig

/** The `sink` keys this file validates. */
export const s3AccessKeys = ['encryption', 'storageClass', 'tags', 'acl', 'assumeRole'] as const

/** Validates the access keys of a raw `sink` section (absent keys stay absent). */
export function s3AccessConfig (obj: Record<string, unknown>, path: string): S3AccessConfig {
  const out: S3AccessConfig = {}
  const encryption = optional(obj.encryption, `${path}.encryption`, encryptionConfig)
  if (encryption !== undefined) out.encryption = encryption
  const storageClass = optional(obj.storageClass, `${path}.storageClass`, storageClassOf)
  if (storageClass !== undefined) out.storageClass = storageClass
  const tags = optional(obj.tags, `${path}.tags`, tagSet)
  if (tags !== undefined) out.tags = tags
  const acl = optional(obj.acl, `${path}.acl`, oneOf(['bucket-owner-full-control'] as const))
  if (acl !== undefined) out.acl = acl
  const assumeRole = optional(obj.assumeRole, `${path}.assumeRole`, assumeRoleConfig)
  if (assumeRole !== undefined) out.assumeRole = assumeRole
  return out
}

function encryptionConfig (raw: unknown, path: string): NonNullable<S3AccessConfig['encryption']> {
  const obj = section(raw, path, ['type', 'kmsKeyId', 'bucketKey'])
  const type = required(obj.type, `${path}.type`, oneOf(['aes256', 'aws:kms'] as const))
  const out: NonNullable<S3AccessConfig['encryption']> = { type }
  const kmsKeyId = optional(obj.kmsKeyId, `${path}.kmsKeyId`, nonEmptyString)
  const bucketKey = optional(obj.bucketKey, `${path}.bucketKey`, boolean)
  if (type === 'aes256' && kmsKeyId !== undefined) throw new ConfigError(`${path}.kmsKeyId`, 'only with type "aws:kms" (SSE-S3 uses keys S3 manages)')
  if (type === 'aes256' && bucketKey !== undefined) throw new ConfigError(`${path}.bucketKey`, 'only with type "aws:kms"')
  if (kmsKeyId !== undefined) {
    // A key id, alias or ARN; anything else S3 would reject per request, long after start.
    if (!/^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+|alias\/.+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/.test(kmsKeyId)) {
      throw new ConfigError(`${path}.kmsKeyId`, `must be a KMS key id, key ARN, alias/NAME or alias ARN, got "${kmsKeyId}"`)
    }
    out.kmsKeyId = kmsKeyId
  }
  if (bucketKey !== undefined) out.bucketKey = bucketKey
  return out
}

function storageClassOf (value: unknown, path: string): NonNullable<S3AccessConfig['storageClass']> {
  if (value === 'GLACIER' || value === 'DEEP_ARCHIVE') {
    throw new ConfigError(path, `"${value}" objects cannot be read without a restore (verify, finalize and queries read them); use a lifecycle rule to move old partitions there`)
  }
  return oneOf(S3StorageClasses)(value, path)
}

/** S3 object tags: at most 10, keys 1..128 and values 0..256 characters. */
function tagSet (value: unknown, path: string): Record<string, string> {
  const obj = section(value, path, Object.keys(isPlainObject(value) ? value : {}))
  const entries = Object.entries(obj)
  if (entries.length === 0 || entries.length > 10) throw new ConfigError(path, `S3 allows 1 to 10 tags per object, got ${entries.length}`)
  const out: Record<string, string> = {}
  for (const [k, v] of entries) {
    if (k.length > 128 || k.startsWith('aws:')) throw new ConfigError(`${path}.${k}`, 'a tag key has at most 128 characters and does not start with "aws:"')
    const text = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v
    if (typeof text !== 'string' || text.length > 256) throw new ConfigError(`${path}.${k}`, 'a tag value is a string of at most 256 characters')
    Object.defineProperty(out, k, { value: text, enumerable: true, writable: true, configurable: true })
  }
  return out
}

function assumeRoleConfig (raw: unknown, path: string): NonNullable<S3AccessConfig['assumeRole']> {
  const obj = section(raw, path, ['roleArn', 'externalId', 'sessionName', 'durationSeconds', 'region', 'endpoint'])
  const roleArn = required(obj.roleArn, `${path}.roleArn`, nonEmptyString)
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(roleArn)) throw new ConfigError(`${path}.roleArn`, `must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME), got "${roleArn}"`)
  const sessionName = withDefault(obj.sessionName, `${path}.sessionName`, 'sediment', nonEmptyString)
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) throw new ConfigError(`${path}.sessionName`, 'must be 2 to 64 of letters, digits and +=,.@_-')
  const out: NonNullable<S3AccessConfig['assumeRole']> = {
    roleArn,
    sessionName,
    // STS allows 900 s up to the role's maximum (1 h by default, at most 12 h).
    durationSeconds: withDefault(obj.durationSeconds, `${path}.durationSeconds`, 3600, integer(900, 43_200))
  }
  const externalId = optional(obj.externalId, `${path}.externalId`, nonEmptyString)
  if (externalId !== undefined) {
    if (!/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) throw new ConfigError(`${path}.externalId`, 'must be 2 to 1224 of letters, digits and +=,.@:/_-')
    out.externalId = externalId
  }
  const region = optional(obj.region, `${path}.region`, nonEmptyString)
  if (region !== undefined) out.region = region
  const endpoint = optional(obj.endpoint, `${path}.endpoint`, httpUrl)
  if (endpoint !== undefined) out.endpoint = endpoint
  return out
}

/** The access keys of a validated sink config. */
export function pickS3Access (sink: S3AccessConfig): S3AccessOptions {
  const out: S3AccessOptions = {}
  for (const key of s3AccessKeys) if (sink[key] !== undefined) Object.assign(out, { [key]: sink[key] })
  return out
}

/** The same checks for a library user's S3StoreOptions.access (the service validated them already). */
export function checkS3Access (access: S3AccessOptions | undefined): void {
  if (access !== undefined) s3AccessConfig(access as Record<string, unknown>, 'access')
}

export interface S3WriteParams {
  ServerSideEncryption?: 'AES256' | 'aws:kms'
  SSEKMSKeyId?: string
  BucketKeyEnabled?: boolean
  StorageClass?: NonNullable<S3AccessConfig['storageClass']>
  Tagging?: string
  ACL?: 'bucket-owner-full-control'
}

/**
 * Parameters for CreateMultipartUpload (`data`) and PutObject (`small`: intents, manifests, markers). SSE, tags
 * and ACL go on both (a bucket policy that requires KMS denies any write without it); the storage class only on
 * data. UploadPart and CompleteMultipartUpload need none of them (only SSE-C would).
 */
export function s3WriteParams (access: S3AccessOptions | undefined): { data: S3WriteParams, small: S3WriteParams } {
  const small: S3WriteParams = {}
  const e = access?.encryption
  if (e !== undefined) {
    small.ServerSideEncryption = e.type === 'aes256' ? 'AES256' : 'aws:kms'
    if (e.kmsKeyId !== undefined) small.SSEKMSKeyId = e.kmsKeyId
    if (e.bucketKey !== undefined) small.BucketKeyEnabled = e.bucketKey
  }
  if (access?.tags !== undefined) small.Tagging = new URLSearchParams(Object.entries(access.tags)).toString()
  if (access?.acl !== undefined) small.ACL = access.acl
  const data = { ...small }
  if (access?.storageClass !== undefined) data.StorageClass = access.storageClass
  return { data, small }
}

/**
 * `config` with its credentials replaced by the assumed role's (STS AssumeRole signed with the credentials it had,
 * or the default chain). The credential-providers package is loaded on first use; the client caches the
 * temporary credentials and asks again before they expire.
 */
export function withS3Access (config: S3ClientConfig, access: S3AccessOptions | undefined): S3ClientConfig {
  const role = access?.assumeRole
  if (role === undefined) return config
  const master = config.credentials
  const stsRegion = role.region ?? (typeof config.region === 'string' ? config.region : 'us-east-1')
  type Provider = (options?: Record<string, unknown>) => Promise<{ accessKeyId: string, secretAccessKey: string, sessionToken?: string, expiration?: Date }>
  let provider: Provider | undefined
  const credentials: Provider = async (options) => {
    if (provider === undefined) {
      const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers')
      provider = fromTemporaryCredentials({
        params: {
          RoleArn: role.roleArn,
          RoleSessionName: role.sessionName,
          DurationSeconds: role.durationSeconds,
          ...(role.externalId !== undefined ? { ExternalId: role.externalId } : {})
        },
        ...(master !== undefined ? { masterCredentials: master as never } : {}),
        clientConfig: { region: stsRegion, ...(role.endpoint !== undefined ? { endpoint: role.endpoint } : {}) }
      }) as Provider
    }
    return await provider(options)
  }
  return { ...config, credentials }
}
