// The one test command (`npm test`): type-check, lint, then every package's
// tests under node:test. Extra arguments are passed to `node --test`
// (e.g. `npm test -- --test-name-pattern=lease`).
import { spawnSync } from 'node:child_process'
import { globSync } from 'node:fs'
import { ensureChromium } from './chromium.ts'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  console.error(`webfabric tests need Node >= 24 (this is ${process.version}).`)
  console.error('Run them through npm (`npm test`), which puts the project\'s Node 24 (the `node` devDependency) first on the PATH.')
  process.exit(1)
}

function step (label: string, cmd: string, args: string[]): void {
  console.log(`\n== ${label}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`\n${label} failed (exit ${r.status ?? r.signal}).`)
    process.exit(r.status ?? 1)
  }
}

const extra = process.argv.slice(2)
const only = extra.filter(a => !a.startsWith('-'))
const flags = extra.filter(a => a.startsWith('-'))

if (only.length === 0) {
  step('type-check (tsc)', 'tsc', ['-p', 'tsconfig.json'])
  step('lint (biome)', 'biome', ['check', '.'])
}
const files = only.length > 0
  ? only
  : globSync(['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts']).sort()
// browser tests (*.browser.test.ts) drive Debian's Chromium: find it, or install it where we may
if (files.some(f => f.endsWith('.browser.test.ts'))) {
  console.log('\n== browser for the browser tests')
  try {
    process.env.WEBFABRIC_CHROMIUM = ensureChromium()
    console.log(`using ${process.env.WEBFABRIC_CHROMIUM}`)
  } catch (err) {
    console.error(`\n${(err as Error).message}`)
    process.exit(1)
  }
}
// Browser tests run after the others, one at a time: each drives Chromium and a fabric of real
// processes, and beside another heavy test on a 2-core machine both starve (a 200 MiB put timing out
// while three tabs compute, say).
const browserFiles = files.filter(f => f.endsWith('.browser.test.ts'))
const otherFiles = files.filter(f => !f.endsWith('.browser.test.ts'))
if (otherFiles.length > 0) step('tests (node --test)', process.execPath, ['--test', '--test-concurrency=2', ...flags, ...otherFiles])
if (browserFiles.length > 0) step('browser tests (node --test, one at a time)', process.execPath, ['--test', '--test-concurrency=1', ...flags, ...browserFiles])
