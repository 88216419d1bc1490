import type { Readable } from 'node:stream'
import { ErrorCodes, SedimentError } from '../errors.js'
import type { RecordDecoder } from './decode.js'

/**
 * Merges the record batches of several objects of one partition by source offset (each object is in offset order
 * already), yielding batches of lines. Needs the offsets, so wrapped JSON lines only. Holds one batch per object.
 */
export async function * mergeByOffset (sources: Readable[], decode: RecordDecoder, batchSize = 500): AsyncGenerator<Buffer[]> {
  const heads = sources.map((s) => ({ it: s[Symbol.asyncIterator]() as AsyncIterator<Buffer[]>, batch: [] as Buffer[], i: 0, offset: 0, done: false }))
  const advance = async (h: (typeof heads)[number]): Promise<void> => {
    while (h.i >= h.batch.length) {
      const next = await h.it.next()
      if (next.done === true) { h.done = true; return }
      h.batch = next.value
      h.i = 0
    }
    const offset = decode(h.batch[h.i] as Buffer).offset
    if (offset === undefined) throw new SedimentError(ErrorCodes.PARSE, 'restore: merging objects by offset needs wrapped records with an offset')
    h.offset = offset
  }
  try {
    for (const h of heads) await advance(h)
    let out: Buffer[] = []
    for (;;) {
      let min: (typeof heads)[number] | undefined
      for (const h of heads) if (!h.done && (min === undefined || h.offset < min.offset)) min = h
      if (min === undefined) break
      out.push(min.batch[min.i++] as Buffer)
      await advance(min)
      if (out.length >= batchSize) { yield out; out = [] }
    }
    if (out.length > 0) yield out
  } finally {
    for (const s of sources) s.destroy()
  }
}
