export { restore, type RestoreOptions, type RestoreStats, type Partitioning } from './restore.js'
export type { RestoreRange, SourceObject } from './select.js'
export { connectTarget, type RestoreTarget } from './target.js'
export { recordSplitter, type Framing } from './split.js'
