/**
 * Secrets out of everything Sediment prints: log lines (see src/logger.ts), `validate`'s summary and CLI errors.
 *
 * Two rules, applied together:
 * - by key name, at any depth: the value of `password`, `credentials`, `secretAccessKey`, `sessionToken`, ... is
 *   replaced whatever it holds;
 * - by value shape, in every string: the userinfo of a URL (`https://user:pass@host` → `https://[redacted]@host`),
 *   `password=...`/`token=...`-style pairs (JDBC strings, query strings, `--password=...`), `Bearer`/`Basic`
 *   authorization values, and in a list of arguments (`hive.command`) the one after `-p`/`--password`.
 * The shape rule is what catches a credential inside a registry URL, an S3 or Glue endpoint, or an error message
 * that quotes one.
 */

export const CENSOR = '[redacted]'

/** Keys whose values are secrets wherever they appear. */
export const secretKeys: ReadonlySet<string> = new Set([
  'credentials', 'password', 'passwd', 'secretAccessKey', 'sessionToken', 'token', 'apiKey', 'authorization',
  'clientSecret', 'keyPassword', 'connectionString', 'containerUrl'
])

/** Secrets known by their parent and own key: `ssl.key` is an inline PEM key ("key" alone is too common a name). */
const secretPaths: ReadonlySet<string> = new Set(['ssl.key'])

/** Command-line flags whose next argument is a password (beeline -p, mysql-style --password). */
const passwordFlags = /^(?:-p|--?pass(?:word)?|-w?password)$/i

// scheme://userinfo@ — greedy up to the last "@" of the authority, as URL parsers read it.
const urlUserinfo = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*(?:@[^\s/?#@]*)*@/gi
// name=value where the name says secret; the value ends at a separator of query strings, JDBC and lists.
const secretPair = /((?:^|[\s?&;,(])-{0,2}[\w.-]*?(?:password|passwd|pwd|secret|token|signature|sig|credential|api[_-]?key|accountkey)[\w.-]*=)[^&;\s,"')]+/gi
// an inline PEM private key (kafka.ssl.key given as text): "key" alone is too common a name to redact by key
const pemKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g
const authValue = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g
// a command line quoted as one string (an error naming the Hive command): the word after -p / --password
const passwordArg = /(\s(?:-p|--?pass(?:word)?)\s+)[^\s'"]+/g

/** The string with secret-shaped parts replaced (see the module comment). */
export function redactText (text: string): string {
  // Cheap test first: most log strings hold none of these shapes.
  if (!/[@=]|Bearer|Basic|-p|PRIVATE KEY/.test(text)) return text
  return text
    .replace(pemKey, CENSOR)
    .replace(urlUserinfo, `$1${CENSOR}@`)
    .replace(secretPair, `$1${CENSOR}`)
    .replace(authValue, `$1 ${CENSOR}`)
    .replace(passwordArg, `$1${CENSOR}`)
}

const MAX_DEPTH = 12

/**
 * A copy of `value` with secrets replaced: strings by shape, object members by key name. Plain objects, arrays and
 * errors are copied (an error keeps its prototype, so loggers still serialize it as an error); other objects
 * (Buffers, Dates, class instances) pass through unchanged, except URLs, which become redacted strings.
 */
export function redactValue (value: unknown): unknown {
  return walk(value, 0, new WeakSet(), '')
}

function walk (value: unknown, depth: number, seen: WeakSet<object>, parent: string): unknown {
  if (typeof value === 'string') return redactText(value)
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value
  if (value instanceof URL) return redactText(value.href)
  if (seen.has(value)) return value
  seen.add(value)
  try {
    if (Array.isArray(value)) {
      return value.map((item, i) => {
        const previous: unknown = value[i - 1]
        if (typeof item === 'string' && typeof previous === 'string' && passwordFlags.test(previous)) return CENSOR
        return walk(item, depth + 1, seen, '')
      })
    }
    if (value instanceof Error) return redactError(value, depth, seen)
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) return value
    const copy: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      const secret = secretKeys.has(key) || secretPaths.has(`${parent}.${key}`)
      copy[key] = secret && item !== undefined && item !== null ? CENSOR : walk(item, depth + 1, seen, key)
    }
    return copy
  } finally {
    seen.delete(value)
  }
}

function redactError (err: Error, depth: number, seen: WeakSet<object>): Error {
  const copy = Object.create(Object.getPrototypeOf(err)) as Error & Record<string, unknown>
  for (const [key, item] of Object.entries(err)) {
    copy[key] = secretKeys.has(key) ? CENSOR : walk(item, depth + 1, seen, key)
  }
  // message, stack and cause are own but not enumerable.
  Object.defineProperty(copy, 'message', { value: redactText(err.message), enumerable: false, writable: true, configurable: true })
  if (err.stack !== undefined) Object.defineProperty(copy, 'stack', { value: redactText(err.stack), enumerable: false, writable: true, configurable: true })
  if ('cause' in err) Object.defineProperty(copy, 'cause', { value: walk(err.cause, depth + 1, seen, ''), enumerable: false, writable: true, configurable: true })
  if (err instanceof AggregateError) Object.defineProperty(copy, 'errors', { value: walk(err.errors, depth + 1, seen, ''), enumerable: false, writable: true, configurable: true })
  return copy
}
