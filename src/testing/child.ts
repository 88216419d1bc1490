import type { ChildProcess } from 'node:child_process'

/** Helpers shared by the test servers that run as child processes. */

const STDERR_TAIL = 4096
const tails = new WeakMap<ChildProcess, string>()

/** Keeps the last few KB of the child's stderr, for error messages. */
export function captureStderr (child: ChildProcess): void {
  tails.set(child, '')
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    tails.set(child, ((tails.get(child) ?? '') + chunk).slice(-STDERR_TAIL))
  })
}

export function stderrTail (child: ChildProcess): string {
  return (tails.get(child) ?? '').trim()
}

export function hasExited (child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** Resolves with the first stdout line; rejects if the child fails to start, exits or stays silent too long. */
export function readFirstLine (child: ChildProcess, name: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const fail = (why: string): void => {
      cleanup()
      const tail = stderrTail(child)
      reject(new Error(`${name} did not start: ${why}${tail === '' ? '' : `\n${tail}`}`))
    }
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl === -1) return
      cleanup()
      // anything after the first line goes back for later readers
      const rest = buf.slice(nl + 1)
      if (rest !== '') child.stdout?.unshift(Buffer.from(rest, 'utf8'))
      resolve(buf.slice(0, nl).trim())
    }
    const onError = (err: Error): void => fail(err.message)
    // let stderr arrive before reporting an early exit
    const onExit = (code: number | null, signal: string | null): void => {
      setTimeout(() => fail(`exited with ${signal ?? `code ${String(code)}`}`), 50)
    }
    const timer = setTimeout(() => fail(`no output within ${timeoutMs} ms`), timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stdout?.pause() // the next reader resumes it; nothing is dropped in between
      child.off('error', onError)
      child.off('exit', onExit)
    }
    if (!tails.has(child)) captureStderr(child)
    child.stdout?.on('data', onData)
    child.once('error', onError)
    child.once('exit', onExit)
  })
}

/**
 * Ends the child: `graceful` first (default SIGCONT + SIGTERM, so a SIGSTOPped child ends too), SIGKILL after
 * `graceMs`. Resolves once it has exited.
 */
export async function terminate (child: ChildProcess, graceMs: number, graceful?: () => void): Promise<void> {
  if (hasExited(child)) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    if (graceful !== undefined) graceful()
    else {
      child.kill('SIGCONT')
      child.kill('SIGTERM')
    }
  } catch {
    // e.g. EPIPE on a dead child's stdin: SIGKILL below
  }
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), graceMs) })
  ])
  clearTimeout(timer)
  if (timedOut && !hasExited(child)) {
    child.kill('SIGKILL')
    await exited
  }
}

/**
 * Forgotten servers must not keep the process alive; their owners kill them in a process 'exit' hook. Also
 * swallows stdin errors (EPIPE once the child died): its 'exit' event is what reports the death.
 */
export function unrefChild (child: ChildProcess): void {
  child.stdin?.on('error', () => {})
  child.unref()
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    (s as unknown as { unref?: () => void } | null)?.unref?.()
  }
}
