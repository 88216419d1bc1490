/**
 * Amazon MSK IAM authentication over SASL/OAUTHBEARER: the token is a SigV4-presigned
 * `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect` (service `kafka-cluster`, valid 900 s),
 * base64url-encoded, signed with credentials from the AWS default chain (env, profile, web identity/IRSA, ECS,
 * IMDS). This is what AWS's aws-msk-iam-sasl-signer-js does; MSK accepts it on its IAM listener (port 9098).
 * kafkajs' own `aws` mechanism is a different, static-credential scheme that MSK does not speak.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import type { BearerToken } from './oauth-token.js'

export interface AwsCredentials { accessKeyId: string, secretAccessKey: string, sessionToken?: string, expiration?: Date }
export type AwsCredentialsProvider = () => Promise<AwsCredentials>

export const MSK_TOKEN_SECONDS = 900
const USER_AGENT = 'sediment-msk-iam'

/** SigV4's hash, on node:crypto (HMAC when given a secret). */
class NodeSha256 {
  readonly #h: Hash | Hmac
  constructor (secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret))
  }

  update (data: string | ArrayBuffer | ArrayBufferView): void { this.#h.update(bytes(data)) }
  async digest (): Promise<Uint8Array> { return new Uint8Array(this.#h.digest()) }
  reset (): void { throw new Error('not supported') }
}

function bytes (data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/** RFC 3986 encoding, as the SDK formats presigned URLs. */
function escapeUri (s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** One MSK IAM token for `region`, signed with `credentials` at `now`. */
export async function mskIamToken (region: string, credentials: AwsCredentials, now = new Date()): Promise<BearerToken> {
  const hostname = `kafka.${region}.amazonaws.com`
  // Loaded here: only MSK users need the signer.
  const { SignatureV4 } = await import('@smithy/signature-v4')
  const signer = new SignatureV4({ service: 'kafka-cluster', region, credentials, sha256: NodeSha256, applyChecksum: false })
  const signed = await signer.presign({
    method: 'GET', protocol: 'https:', hostname, path: '/', headers: { host: hostname }, query: { Action: 'kafka-cluster:Connect' }
  }, { expiresIn: MSK_TOKEN_SECONDS, signingDate: now })
  const query = { ...signed.query, 'User-Agent': USER_AGENT }
  const qs = Object.entries(query).map(([k, v]) => `${escapeUri(k)}=${escapeUri(String(v))}`).join('&')
  const url = `https://${hostname}/?${qs}`
  return { value: Buffer.from(url, 'utf8').toString('base64url'), expiresAt: now.getTime() + MSK_TOKEN_SECONDS * 1000 }
}

/** The AWS default credential chain, loaded on first use (only MSK users need it). */
export function defaultCredentialChain (): AwsCredentialsProvider {
  let chain: AwsCredentialsProvider | undefined
  return async () => {
    if (chain === undefined) {
      const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers')
      chain = fromNodeProviderChain()
    }
    return await chain()
  }
}
