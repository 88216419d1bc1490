import { FencedError } from '../../src/errors.js'
import type { AssignedPartition, OffsetCommitter, TopicPartition } from '../../src/types.js'

/**
 * An OffsetCommitter standing in for the group coordinator in sink-level tests: it records each commit with the
 * keys visible at that moment (`visible`, read from the test's store) and can fence.
 */
export class Coordinator implements OffsetCommitter {
  epoch = 1
  commits: Array<{ tp: TopicPartition, offset: number, metadata: string, visibleAtCommit: string[] }> = []
  fence = false
  resolveStart: ((a: AssignedPartition) => Promise<number | null>) | undefined
  constructor (readonly visible: () => Promise<string[]>) {}
  setStartResolver (fn: (a: AssignedPartition) => Promise<number | null>): void { this.resolveStart = fn }
  async commit (tp: TopicPartition, offset: number, metadata: string, epoch: number): Promise<void> {
    if (this.fence || epoch !== this.epoch) throw new FencedError('fenced by test')
    this.commits.push({ tp, offset, metadata, visibleAtCommit: await this.visible() })
  }
}
