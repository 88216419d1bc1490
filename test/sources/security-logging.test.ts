import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/options.js'
import { createLogger } from '../../src/logger.js'

test('the startup log of a whole config redacts Kafka and Azure secrets at every depth', () => {
  const secrets = ['pem-key-secret-1', 'client-secret-2', 'key-password-3', 'sasl-password-4', 'AccountKey=c2VjcmV0NQ==', 'sig=sas-secret-6']
  const kafka = { brokers: ['b:1'], groupId: 'g', topics: ['t'], ssl: true }
  const configs = [
    // (a PEM pair would be checked by validation; the logger sees the validated shape)
    { ...validateConfig({ kafka, sink: { bucket: 'bbb' } }), kafka: { ...kafka, ssl: { cert: 'PEM', key: secrets[0], keyPassword: secrets[2] } } },
    validateConfig({ kafka: { ...kafka, sasl: { mechanism: 'oauthbearer', tokenEndpoint: { url: 'https://idp/t', clientId: 'c', clientSecret: secrets[1] } } }, sink: { bucket: 'bbb' } }),
    validateConfig({ kafka: { ...kafka, sasl: { mechanism: 'plain', username: 'u', password: secrets[3] } }, sink: { type: 'azure', container: 'data-lake', connectionString: `AccountName=a;${secrets[4]}` } }),
    validateConfig({ kafka, sink: { type: 'azure', containerUrl: `https://a.blob.core.windows.net/c?sv=1&${secrets[5]}` } })
  ]
  let out = ''
  const logger = createLogger({ level: 'info', destination: new Writable({ write (c: Buffer, _e, cb) { out += c.toString(); cb() } }) })
  for (const config of configs) {
    logger.info({ config }, 'sediment starting')
    logger.info(config, 'flat')
    logger.info({ kafka: config.kafka, sink: config.sink }, 'sections')
  }
  for (const s of secrets) assert.ok(!out.includes(s), `${s} leaked: ${out.slice(0, 400)}`)
  assert.match(out, /\[redacted\]/)
})
