import { ObjectSink, type ObjectSinkOptions } from './object-sink.js'
import { S3Store, type S3StoreOptions } from './s3-store.js'

export type S3SinkOptions = Omit<ObjectSinkOptions, 'store'> & S3StoreOptions

/** The S3 (or S3-compatible) sink: `pipeline(source, ...stages, s3Sink({ committer: source, bucket, ... }))`. */
export function s3Sink (options: S3SinkOptions): ObjectSink {
  const store = new S3Store(options)
  const sink = new ObjectSink({ ...options, store })
  sink.once('close', () => { store.close().catch(() => {}) })
  return sink
}
