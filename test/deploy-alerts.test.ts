import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { MetricNames } from '../src/ops/metrics.js'

// The alerting rules shipped as a PrometheusRule, checked by promtool: the rules file is the resource's
// spec.groups, and test/deploy-alerts.promtool.yaml has series that make each alert fire and stay quiet.

const root = fileURLToPath(new URL('..', import.meta.url))
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool'

interface Rule { alert?: string, record?: string, expr: string, annotations?: Record<string, string> }
interface PrometheusRule { apiVersion: string, kind: string, spec: { groups: Array<{ name: string, rules: Rule[] }> } }

async function rules (): Promise<PrometheusRule> {
  return parse(await readFile(join(root, 'deploy/k8s/prometheusrule.yaml'), 'utf8')) as PrometheusRule
}

test('the PrometheusRule alerts on lag, missing commits, readiness, upload failures, late data and skipped offsets, with metric names that exist', async () => {
  const r = await rules()
  assert.equal(r.kind, 'PrometheusRule')
  assert.equal(r.apiVersion, 'monitoring.coreos.com/v1')
  const all = r.spec.groups.flatMap(g => g.rules)
  assert.deepEqual(all.map(x => x.alert).sort(), ['SedimentLagHigh', 'SedimentLateData', 'SedimentNoCommit', 'SedimentNotReady', 'SedimentSkippedOffsets', 'SedimentUploadFailures'])
  const known = new Set<string>(Object.values(MetricNames))
  for (const rule of all) {
    for (const name of rule.expr.match(/\bsediment_[a-z_]+/g) ?? []) assert.ok(known.has(name), `${rule.alert ?? ''}: ${name} is not a metric of src/ops/metrics.ts`)
  }
})

test('promtool test rules: every alert fires on its series and stays quiet on the others', { timeout: 60_000 }, async (t) => {
  try {
    await access(PROMTOOL)
  } catch {
    t.skip(`${PROMTOOL} not found: install Debian's prometheus package (CI does) or set PROMTOOL`)
    return
  }
  const dir = await mkdtemp(join(tmpdir(), 'sediment-alerts-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  // `check` parses every expression and template; `test` compares annotations whole, so the cases check each
  // summary (the templated line a pager shows) against rules without the descriptions (prose).
  const groups = (await rules()).spec.groups
  const fullFile = join(dir, 'full.yaml')
  await writeFile(fullFile, stringify({ groups }))
  const rulesFile = join(dir, 'rules.yaml')
  await writeFile(rulesFile, stringify({ groups: groups.map(g => ({ ...g, rules: g.rules.map(withoutDescription) })) }))
  const cases = await readFile(join(root, 'test/deploy-alerts.promtool.yaml'), 'utf8')
  assert.ok(cases.includes('RULES_FILE'))
  const casesFile = join(dir, 'alerts.test.yaml')
  await writeFile(casesFile, cases.replace('RULES_FILE', JSON.stringify(rulesFile)))

  const check = await promtool(['check', 'rules', fullFile])
  assert.equal(check.code, 0, check.output)
  const result = await promtool(['test', 'rules', casesFile])
  assert.equal(result.code, 0, result.output)
  assert.match(result.output, /SUCCESS/)
})

function withoutDescription (rule: Rule & { annotations?: Record<string, string> }): Rule {
  if (rule.annotations === undefined) return rule
  const { description, ...annotations } = rule.annotations
  assert.ok(typeof description === 'string' && description.length > 0, `${rule.alert ?? ''} has a description`)
  return { ...rule, annotations }
}

function promtool (args: string[]): Promise<{ code: number, output: string }> {
  return new Promise(resolve => {
    execFile(PROMTOOL, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, output: `${stdout}${stderr}` })
    })
  })
}
