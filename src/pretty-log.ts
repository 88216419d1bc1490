/**
 * Readable log lines for a person at a terminal (`--pretty`, `log.pretty`): pino's JSON entries turned into
 *   08:55:01.123 WARN  source: cannot reach Kafka, retrying  brokers=127.0.0.1:1 attempt=3 retryInMs=2000
 * An error shows its message; its stack only at level fatal. A small stand-in for pino-pretty (which would bring
 * a dozen packages for this). JSON stays the default: machines read logs more often than people do.
 */
import type { DestinationStream } from 'pino'

const LevelNames: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const LevelColors: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' }
/** pino's own fields, shown in the line's head (or not at all). */
const Own = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'component', 'v'])

export function prettyDestination (out: NodeJS.WritableStream): DestinationStream {
  const color = (out as { isTTY?: boolean }).isTTY === true && process.env.NO_COLOR === undefined
  return {
    write (line: string): void {
      out.write(`${formatEntry(line, color)}\n`)
    }
  }
}

/** One pino JSON line as a readable line (unparseable input passes through unchanged). */
export function formatEntry (line: string, color = false): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line.trimEnd()
  }
  const level = typeof entry.level === 'number' ? entry.level : 30
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : ''
  let name = (LevelNames[level] ?? String(level)).padEnd(5)
  if (color) name = `\u001b[${LevelColors[level] ?? '0'}m${name}\u001b[0m`
  const msg = typeof entry.msg === 'string' ? entry.msg : ''
  // "progress: progress: ..." says it twice
  const component = typeof entry.component === 'string' && !msg.startsWith(`${entry.component}:`) ? `${entry.component}: ` : ''
  const fields: string[] = []
  let stack = ''
  for (const [key, value] of Object.entries(entry)) {
    if (Own.has(key) || value === undefined) continue
    if (isError(value)) {
      fields.push(`${key}=${quote(value.message)}`)
      if (level >= 60 && typeof value.stack === 'string') stack = `\n    ${value.stack.split('\n').slice(1).join('\n    ').trim()}`
    } else {
      fields.push(`${key}=${typeof value === 'string' ? quote(value) : JSON.stringify(value)}`)
    }
  }
  return `${time} ${name} ${component}${msg}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}${stack}`
}

function isError (value: unknown): value is { message: string, stack?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string' &&
    typeof (value as { type?: unknown }).type === 'string'
}

/** Bare when it reads unambiguously, JSON-quoted otherwise. */
function quote (s: string): string {
  return /^[\w.:/@,+-]+$/.test(s) ? s : JSON.stringify(s)
}
