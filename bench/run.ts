// Run every benchmark in bench/ (each bench/*.ts but this file) in turn, on
// this Node (`npm run bench` puts the project's Node 24 first on the PATH).
// With --json, collects each benchmark's JSON into one document:
// { node, benches: { <name>: <its JSON> | { error } } }.
// Exits non-zero when any benchmark failed; the others still run.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  console.error(`the benchmarks need Node >= 24 (this is ${process.version}); run them with \`npm run bench\``)
  process.exit(1)
}

const json = process.argv.includes('--json')
const here = dirname(fileURLToPath(import.meta.url))
const self = basename(fileURLToPath(import.meta.url))
const files = readdirSync(here).filter(f => f.endsWith('.ts') && f !== self).sort()

const results: Record<string, unknown> = {}
let failed = 0
for (const file of files) {
  const name = file.replace(/\.ts$/, '')
  if (!json) console.log(`\n== bench/${file}`)
  // progress goes to stderr either way; with --json stdout is the benchmark's JSON document
  const r = spawnSync(process.execPath, [join(here, file), ...(json ? ['--json'] : [])], {
    stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20
  })
  if (r.status !== 0) {
    failed++
    console.error(`bench/${file} failed (exit ${r.status ?? r.signal})`)
  }
  if (json) {
    try {
      results[name] = JSON.parse(r.stdout)
    } catch {
      results[name] = { error: `exit ${r.status ?? r.signal}; no JSON on stdout`, stdout: r.stdout.slice(0, 4000) }
    }
  }
}
if (json) console.log(JSON.stringify({ node: process.version, benches: results }, null, 2))
process.exit(failed === 0 ? 0 : 1)
