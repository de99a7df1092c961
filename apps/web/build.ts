// Builds the web app (participant page + dashboard) with Vite, from any
// working directory, and skips the build when nothing it depends on changed:
// `<outDir>/.stamp` holds a hash of the app's files, every package's sources
// and the lockfile (paths, sizes and mtimes — cheap to compute).
// Use: `await buildWebApp()` (returns the absolute dist folder), or
// `node apps/web/build.ts [--force] [--out <dir>]`.
import { createHash } from 'node:crypto'
import { type Dirent, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The app's folder. */
const WEB_DIR = fileURLToPath(new URL('.', import.meta.url))
/** The repository root (apps/web/../..). */
const REPO_DIR = resolve(WEB_DIR, '..', '..')
/** The file in the output folder that records what it was built from. */
export const STAMP_FILE = '.stamp'
/** Infix of the folder a build writes before it is moved into place. */
const BUILDING = '.building-'

/** Options of buildWebApp. */
export interface BuildWebAppInit {
  /** where the app is built; default apps/web/dist */
  outDir?: string
  /** build even when the stamp says the output is current */
  force?: boolean
  /** progress lines; quiet when absent */
  log?: (m: string) => void
}

/** Builds the app unless `<outDir>/.stamp` matches the current sources; returns the absolute output folder. */
export async function buildWebApp (opts: BuildWebAppInit = {}): Promise<string> {
  const outDir = resolve(opts.outDir ?? join(WEB_DIR, 'dist'))
  const log = opts.log
  const hash = sourceHash(outDir)
  if (opts.force !== true && readStamp(outDir) === hash) {
    log?.(`web app: ${relative(process.cwd(), outDir) || '.'} is current`)
    return outDir
  }
  log?.('web app: building with Vite…')
  const started = performance.now()
  const [{ build }, { webConfig }] = await Promise.all([import('vite'), import('./vite.config.ts')])
  // build beside the output and move it into place, so concurrent builds (parallel tests, two
  // nodes starting) never interleave their files in one folder
  const tmp = `${outDir}${BUILDING}${process.pid}-${Date.now()}`
  try {
    await build({
      ...webConfig({ outDir: tmp }),
      configFile: false,
      logLevel: log != null ? 'warn' : 'silent',
      mode: 'production'
    })
    writeFileSync(join(tmp, STAMP_FILE), `${hash}\n`)
    rmSync(outDir, { recursive: true, force: true })
    try {
      renameSync(tmp, outDir)
    } catch (err) {
      // another build moved its output in first: as good as ours when built from the same sources
      if (readStamp(outDir) !== hash) throw err
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  log?.(`web app: built into ${relative(process.cwd(), outDir) || '.'} in ${Math.round(performance.now() - started)} ms`)
  return outDir
}

/** The hash the stamp holds: apps/web (not dist, test, node_modules, the output or builds in progress), packages/<name>/src, package-lock.json. */
export function sourceHash (outDir: string = join(WEB_DIR, 'dist')): string {
  const h = createHash('sha256')
  const skip = new Set([join(WEB_DIR, 'dist'), join(WEB_DIR, 'test'), join(WEB_DIR, 'node_modules'), resolve(outDir)])
  const add = (file: string): void => {
    try {
      const s = statSync(file)
      h.update(`${relative(REPO_DIR, file)}\0${s.size}\0${s.mtimeMs}\n`)
    } catch {
      h.update(`${relative(REPO_DIR, file)}\0missing\n`)
    }
  }
  for (const f of walk(WEB_DIR, skip)) add(f)
  let packages: string[] = []
  try { packages = readdirSync(join(REPO_DIR, 'packages')).sort() } catch {}
  for (const p of packages) for (const f of walk(join(REPO_DIR, 'packages', p, 'src'), skip)) add(f)
  add(join(REPO_DIR, 'package-lock.json'))
  return h.digest('hex')
}

/** Every file under `dir` (sorted, depth first), except the folders in `skip`; nothing when `dir` is absent. */
function walk (dir: string, skip: Set<string>): string[] {
  const out: string[] = []
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return out
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) {
      if (!skip.has(p) && !e.name.includes(BUILDING)) out.push(...walk(p, skip))
    } else if (e.isFile()) {
      out.push(p)
    }
  }
  return out
}

function readStamp (outDir: string): string | undefined {
  try {
    return readFileSync(join(outDir, STAMP_FILE), 'utf8').trim()
  } catch {
    return undefined
  }
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const out = args.indexOf('--out')
  try {
    const dir = await buildWebApp({
      force: args.includes('--force'),
      outDir: out >= 0 ? args[out + 1] : undefined,
      log: m => console.log(m)
    })
    console.log(dir)
  } catch (err) {
    console.error(`web app: the build failed: ${(err as Error).message}`)
    process.exitCode = 1
  }
}
