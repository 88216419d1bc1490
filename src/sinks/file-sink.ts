import { FileStore } from './file-store.js'
import { ObjectSink, type ObjectSinkOptions } from './object-sink.js'

export type FileSinkOptions = Omit<ObjectSinkOptions, 'store'> & { directory: string }

/** The local-directory sink: same layout and commit protocol as S3, objects appear by atomic rename. */
export function fileSink (options: FileSinkOptions): ObjectSink {
  return new ObjectSink({ ...options, store: new FileStore({ directory: options.directory }) })
}
