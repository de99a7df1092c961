#!/usr/bin/env node
// Launcher for the `webfabric` CLI. The CLI is TypeScript run directly by
// Node >= 24 (type stripping). Started with an older Node (the machine's own),
// it re-runs itself with the project's Node 24 (the `node` devDependency).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const major = Number(process.versions.node.split('.')[0])

if (major >= 24) {
  await import('../src/main.ts')
} else {
  const candidates = [
    join(here, '..', '..', '..', 'node_modules', 'node', 'bin', 'node'),
    join(here, '..', 'node_modules', 'node', 'bin', 'node')
  ]
  const node = candidates.find(p => existsSync(p))
  if (node == null) {
    console.error(`webfabric needs Node >= 24 (this is ${process.version}).`)
    console.error('Run `npm ci` in the webfabric checkout (it brings Node 24 as the `node` package), then run `npx webfabric ...` there.')
    process.exit(1)
  }
  const r = spawnSync(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
