'use strict'
/*
 * Child process of S3TestServer (s3-server.ts): runs s3rver on 127.0.0.1 and prints `{"port":N}` once listening.
 * Started as `node --openssl-legacy-provider s3rver-child.cjs '<json options>'` because s3rver 3.7 encrypts
 * ListObjectsV2 continuation tokens with DES. Plain CommonJS on purpose: s3rver is untyped CommonJS and this
 * file patches its internals; it also starts faster than going through a TypeScript loader.
 *
 * What it adds to s3rver 3.7, as S3 behaves:
 *   - AbortMultipartUpload   DELETE /b/k?uploadId=   204; 404 NoSuchUpload for an unknown/finished upload
 *   - CompleteMultipartUpload                         404 NoSuchUpload for an unknown/finished upload (s3rver: 500),
 *                                                     InvalidPart / InvalidPartOrder / EntityTooSmall checks
 *   - UploadPart                                      404 NoSuchUpload for an unknown upload (s3rver: recreates it)
 *   - ListParts              GET /b/k?uploadId=
 *   - ListMultipartUploads   GET /b?uploads           prefix, key-marker, upload-id-marker, max-uploads
 *   - PutObject (and a completed multipart upload) appears whole or not at all: s3rver streams the body into the
 *     object's file as it arrives, so a listing saw an empty or partial object mid-write, and a request cut off
 *     by a killed client left a truncated one behind; here the body goes to a hidden temporary file first
 *   - ListObjects(V2) in S3 key order (s3rver walks directories, so `a/b` came before `a.b` and paging could skip
 *     keys), and any access key id is accepted (s3rver knows only S3RVER; it never checks V4 signatures anyway).
 * Stored layout (s3rver's FilesystemStore): <dir>/<bucket>/._S3rver_uploads/<uploadId>/{key,metadata,<n>,<n>.md5}
 */
const fs = require('node:fs')
const fsp = require('node:fs/promises')
const path = require('node:path')
const { createRequire } = require('node:module')

const requireFromS3rver = createRequire(require.resolve('s3rver'))
const S3rver = require('s3rver')
const S3Error = requireFromS3rver('./models/error')
const AWSAccount = requireFromS3rver('./models/account')
const S3Object = requireFromS3rver('./models/object')
const FilesystemStore = requireFromS3rver('./stores/filesystem')
const xmlParser = requireFromS3rver('fast-xml-parser')
const he = requireFromS3rver('he')

const MIN_PART_SIZE = 5 * 1024 * 1024
const OBJECT_SUFFIX = '._S3rver_object'
const UPLOAD_ID = /^[0-9a-f]{32}$/

// Any access key: tests and the demo use dummy credentials.
const registryGet = AWSAccount.registry.get.bind(AWSAccount.registry)
AWSAccount.registry.get = (id) => registryGet(id) ?? AWSAccount.DUMMY_ACCOUNT

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))

function * walk (dir, recurse) {
  for (const name of fs.readdirSync(dir)) {
    const p = path.posix.join(dir, name)
    if (!fs.statSync(p).isDirectory()) yield p
    else if (recurse(p)) yield * walk(p, recurse)
  }
}

// Same contract as s3rver's putObject, but atomic: the body is written to a temporary file (not listed: no
// object suffix), a request that ends early fails, and only a complete body is renamed into place.
FilesystemStore.prototype.putObject = async function putObject (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object')
  await fsp.mkdir(path.dirname(objectPath), { recursive: true })
  const temporary = `${objectPath}.${process.pid}-${Math.random().toString(16).slice(2)}.partial`
  const md5Context = require('node:crypto').createHash('md5')
  let size = 0
  try {
    if (Buffer.isBuffer(object.content)) {
      md5Context.update(object.content)
      size = object.content.length
      await fsp.writeFile(temporary, object.content)
    } else {
      await require('node:stream/promises').pipeline(object.content, async function * (source) {
        for await (const chunk of source) { md5Context.update(chunk); size += chunk.length; yield chunk }
      }, fs.createWriteStream(temporary))
    }
    const md5 = md5Context.digest('hex')
    await this.putMetadata(object.bucket, object.key, object.metadata, md5)
    await fsp.rename(temporary, objectPath)
    return { size, md5 }
  } catch (err) {
    await fsp.rm(temporary, { force: true })
    throw err
  }
}

// Same contract as s3rver's, but keys are sorted in S3 (UTF-8 byte) order before paging.
FilesystemStore.prototype.listObjects = async function listObjects (bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options
  const bucketPath = this.getBucketPath(bucket)
  const prefixPath = `${bucketPath}/${prefix}`
  const keys = []
  for (const p of walk(bucketPath, (d) => d.startsWith(prefixPath) || prefixPath.startsWith(d))) {
    if (!p.endsWith(OBJECT_SUFFIX)) continue
    const key = p.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length)
    if (key.startsWith(prefix) && byteOrder(key, startAfter) > 0) keys.push(key)
  }
  keys.sort(byteOrder)

  const page = []
  let commonPrefixes = new Set()
  let isTruncated = false
  for (const key of keys) {
    const idx = delimiter ? key.indexOf(delimiter, prefix.length) : -1
    if (idx !== -1) {
      commonPrefixes.add(key.slice(0, idx + delimiter.length))
    } else if (page.length < maxKeys) {
      page.push(key)
    } else {
      isTruncated = true
      break
    }
  }
  if (isTruncated) {
    // prefixes past the last key belong to the next page
    const last = page[page.length - 1]
    commonPrefixes = new Set([...commonPrefixes].filter((cp) => byteOrder(cp, last) < 0))
  }
  const metadata = await Promise.all(page.map((key) => this.getMetadata(bucket, key).catch((err) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })))
  return {
    objects: page.flatMap((key, i) => metadata[i] === undefined ? [] : [new S3Object(bucket, key, null, metadata[i])]),
    commonPrefixes: [...commonPrefixes].sort(byteOrder),
    isTruncated
  }
}

function noSuchUpload (uploadId) {
  return new S3Error('NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    { UploadId: uploadId })
}

function uploadsDir (store, bucket) {
  return store.getResourcePath(bucket, undefined, 'uploads')
}

/** The stored upload, or null when it does not exist (never started, aborted or completed). */
async function readUpload (store, bucket, uploadId) {
  if (!UPLOAD_ID.test(uploadId)) return null
  const dir = path.join(uploadsDir(store, bucket), uploadId)
  try {
    const [key, stat] = await Promise.all([fsp.readFile(path.join(dir, 'key'), 'utf8'), fsp.stat(path.join(dir, 'key'))])
    return { dir, key, uploadId, initiated: stat.mtime }
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null
    throw err
  }
}

async function readParts (dir) {
  const names = (await fsp.readdir(dir)).filter((n) => /^\d+$/.test(n))
  const parts = await Promise.all(names.map(async (n) => {
    try {
      const [stat, md5] = await Promise.all([fsp.stat(path.join(dir, n)), fsp.readFile(path.join(dir, `${n}.md5`), 'utf8')])
      return { number: Number(n), size: stat.size, etag: md5.trim(), lastModified: stat.mtime }
    } catch (err) {
      if (err.code === 'ENOENT') return null // part still being written
      throw err
    }
  }))
  return parts.filter((p) => p !== null).sort((a, b) => a.number - b.number)
}

async function readBody (req) {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function parseCompletion (xml) {
  const malformed = () => new S3Error('MalformedXML',
    'The XML you provided was not well-formed or did not validate against our published schema.')
  if (xmlParser.validate(xml) !== true) throw malformed()
  const body = xmlParser.parse(xml, { tagValueProcessor: (a) => he.decode(a), parseNodeValue: false })
  const parts = body.CompleteMultipartUpload?.Part
  if (!parts) throw malformed()
  return [].concat(parts).map((p) => ({ number: Number(p.PartNumber), etag: String(p.ETag ?? '').replace(/"/g, '') }))
}

// Completions and aborts of one upload run one at a time, so a retried or racing request sees the first one's result.
const busy = new Map()
async function exclusive (uploadId, fn) {
  while (busy.has(uploadId)) await busy.get(uploadId).catch(() => {})
  const p = fn()
  busy.set(uploadId, p)
  try { return await p } finally { busy.delete(uploadId) }
}

async function completeUpload (ctx, bucket, key, uploadId) {
  const requested = parseCompletion(await readBody(ctx.req))
  return exclusive(uploadId, async () => {
    const upload = await readUpload(ctx.store, bucket, uploadId)
    if (!upload || upload.key !== key) throw noSuchUpload(uploadId)
    const stored = new Map((await readParts(upload.dir)).map((p) => [p.number, p]))
    requested.forEach((p, i) => {
      if (i > 0 && !(p.number > requested[i - 1].number)) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.')
      }
      const s = stored.get(p.number)
      if (!s || s.etag !== p.etag) {
        throw new S3Error('InvalidPart',
          'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.',
          { UploadId: uploadId, PartNumber: p.number, ETag: p.etag })
      }
      if (i < requested.length - 1 && s.size < MIN_PART_SIZE) {
        throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.',
          { ProposedSize: s.size, MinSizeAllowed: MIN_PART_SIZE, PartNumber: p.number, ETag: p.etag })
      }
    })
    // s3rver assembles the object and removes the upload directory (parts included)
    const { md5 } = await ctx.store.putObjectMultipart(bucket, uploadId, requested)
    ctx.body = {
      CompleteMultipartUploadResult: {
        Location: ctx.href.split('?')[0],
        Bucket: bucket,
        Key: key,
        ETag: JSON.stringify(md5)
      }
    }
  })
}

async function abortUpload (ctx, bucket, key, uploadId) {
  await exclusive(uploadId, async () => {
    const upload = await readUpload(ctx.store, bucket, uploadId)
    if (!upload || upload.key !== key) throw noSuchUpload(uploadId)
    await fsp.rm(upload.dir, { recursive: true, force: true })
    ctx.status = 204
  })
}

function intParam (ctx, name, def, min, max) {
  const raw = ctx.query[name]
  if (raw === undefined) return def
  const n = Number(raw)
  if (!/^\d+$/.test(String(raw)) || n < min || n > max) {
    throw new S3Error('InvalidArgument', `Invalid ${name}`, { ArgumentName: name, ArgumentValue: raw })
  }
  return n
}

async function listParts (ctx, bucket, key, upload) {
  const marker = intParam(ctx, 'part-number-marker', 0, 0, 10000)
  const maxParts = intParam(ctx, 'max-parts', 1000, 0, 1000)
  const all = (await readParts(upload.dir)).filter((p) => p.number > marker)
  const parts = all.slice(0, maxParts)
  const owner = { ID: AWSAccount.DUMMY_ACCOUNT.id, DisplayName: AWSAccount.DUMMY_ACCOUNT.displayName }
  ctx.body = {
    ListPartsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: bucket,
      Key: key,
      UploadId: upload.uploadId,
      Initiator: owner,
      Owner: owner,
      StorageClass: 'STANDARD',
      PartNumberMarker: marker,
      NextPartNumberMarker: parts.length > 0 ? parts[parts.length - 1].number : marker,
      MaxParts: maxParts,
      IsTruncated: all.length > parts.length,
      Part: parts.map((p) => ({ PartNumber: p.number, LastModified: p.lastModified.toISOString(), ETag: JSON.stringify(p.etag), Size: p.size }))
    }
  }
}

async function listUploads (ctx, bucket) {
  if (ctx.query.delimiter) throw new S3Error('NotImplemented', 'delimiter is not implemented for ListMultipartUploads')
  const prefix = String(ctx.query.prefix ?? '')
  const keyMarker = String(ctx.query['key-marker'] ?? '')
  const idMarker = String(ctx.query['upload-id-marker'] ?? '')
  const maxUploads = intParam(ctx, 'max-uploads', 1000, 0, 1000)
  let ids = []
  try {
    ids = await fsp.readdir(uploadsDir(ctx.store, bucket))
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  const sorted = (await Promise.all(ids.map((id) => readUpload(ctx.store, bucket, id))))
    .filter((u) => u !== null && u.key.startsWith(prefix))
    .sort((a, b) => byteOrder(a.key, b.key) || a.initiated - b.initiated || (a.uploadId < b.uploadId ? -1 : 1))
  // key-marker: keys after it; with upload-id-marker also the uploads of key-marker listed after that upload
  const markerIdx = sorted.findIndex((u) => u.key === keyMarker && u.uploadId === idMarker)
  const uploads = sorted.filter((u, i) => {
    const c = byteOrder(u.key, keyMarker)
    return c > 0 || (c === 0 && idMarker !== '' && markerIdx !== -1 && i > markerIdx)
  })
  const page = uploads.slice(0, maxUploads)
  const last = page[page.length - 1]
  const owner = { ID: AWSAccount.DUMMY_ACCOUNT.id, DisplayName: AWSAccount.DUMMY_ACCOUNT.displayName }
  ctx.body = {
    ListMultipartUploadsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: bucket,
      KeyMarker: keyMarker,
      UploadIdMarker: idMarker,
      NextKeyMarker: last ? last.key : undefined,
      NextUploadIdMarker: last ? last.uploadId : undefined,
      Prefix: prefix,
      MaxUploads: maxUploads,
      IsTruncated: uploads.length > page.length,
      Upload: page.map((u) => ({
        Key: u.key,
        UploadId: u.uploadId,
        Initiator: owner,
        Owner: owner,
        StorageClass: 'STANDARD',
        Initiated: u.initiated.toISOString()
      }))
    }
  }
}

/** Runs before s3rver's router: handles the multipart calls above, passes everything else on. */
async function multipart (ctx, next) {
  const m = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path)
  if (!m) return next()
  const bucket = decodeURIComponent(m[1])
  const key = m[2] ? decodeURIComponent(m[2]) : undefined // `/bucket/` is the bucket
  const uploadId = ctx.query.uploadId
  const isListUploads = key === undefined && ctx.method === 'GET' && 'uploads' in ctx.query
  const isUploadCall = key !== undefined && typeof uploadId === 'string' && ['GET', 'PUT', 'POST', 'DELETE'].includes(ctx.method)
  if (!isListUploads && !isUploadCall) return next()
  if (!(await ctx.store.getBucket(bucket))) {
    throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket })
  }
  if (isListUploads) return listUploads(ctx, bucket)

  switch (ctx.method) {
    case 'POST': return completeUpload(ctx, bucket, key, uploadId)
    case 'DELETE': return abortUpload(ctx, bucket, key, uploadId)
  }
  const upload = await readUpload(ctx.store, bucket, uploadId)
  if (!upload || upload.key !== key) throw noSuchUpload(uploadId)
  if (ctx.method === 'GET') return listParts(ctx, bucket, key, upload)
  intParam(ctx, 'partNumber', undefined, 1, 10000)
  if (ctx.query.partNumber === undefined) {
    throw new S3Error('InvalidArgument', 'partNumber is required', { ArgumentName: 'partNumber' })
  }
  return next() // UploadPart: s3rver stores the part
}

async function main () {
  const opts = JSON.parse(process.argv[2] ?? '{}')
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    silent: true,
    directory: opts.directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name }))
  })
  // s3rver registers its router last; the extension must see requests before it (and after the XML encoder).
  server.middleware.splice(server.middleware.length - 1, 0, multipart)
  const address = await server.run()
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`)
  // The parent holds our stdin: when it goes away (even by SIGKILL), so do we.
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
}

main().catch((err) => {
  process.stderr.write(`s3rver-child: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
