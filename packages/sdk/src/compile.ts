// compileTask: AssemblyScript task source → a task module that satisfies
// packages/compute/ABI.md (imports only wf.* and env.abort; exports memory and
// run; no start function, no threads, no SIMD).
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import asc from 'assemblyscript/asc'
import { CompileError } from './errors.ts'
import type { CompileDiagnostic } from './errors.ts'
import { PROCESS_IMPORTS, TASK_IMPORTS } from './abi.ts'

/** Options of compileTask. */
export interface CompileTaskInit {
  /** Run Binaryen's optimizer (-O3). Default true: tasks are compute-bound and pay for it many times over. */
  optimize?: boolean
  /** AssemblyScript runtime: 'incremental' (default; frees memory) or 'stub' (bump allocator, never frees; smallest and fastest for short tasks). */
  runtime?: 'incremental' | 'stub'
  /**
   * Directory of the on-disk compile cache shared by processes (default
   * $WEBFABRIC_CACHE_DIR or <tmpdir>/webfabric-task-cache); false for memory only.
   * Entries are keyed by path, flags and compiler version, and used only while
   * every source file they were built from is unchanged.
   */
  cacheDir?: string | false
  signal?: AbortSignal
  /** 'task' (default: deterministic imports only) or 'process' (may also import now_ms, sleep_ms, publish). */
  profile?: 'task' | 'process'
}

/** Where this package lives: `@webfabric/sdk/assembly` always resolves here, wherever the task's source is. */
const SDK_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** A package directory added to the compiler's search path so tasks outside this repo (no node_modules) still find the SDK. */
const VIRTUAL_MODULES = path.join(SDK_ROOT, '.virtual_modules')
const SDK_PACKAGE = '@webfabric/sdk'
/** The export AS gives its start function; folded into `run` by the transform below, then removed. */
const START_EXPORT = '__wf_start'

/**
 * The compiler flags of every task (see the package README, "Compile flags"):
 * the incremental runtime imports nothing beyond env.abort; no `--enable`
 * (so no threads, atomics, SIMD or reference types); the start function is
 * exported and folded into `run` because the VM refuses a start section.
 */
export function compileFlags (init: CompileTaskInit = {}): string[] {
  const flags = [
    '--runtime', init.runtime ?? 'incremental',
    '--exportStart', START_EXPORT,
    '--path', VIRTUAL_MODULES,
    '--noColors'
  ]
  if (init.optimize ?? true) flags.push('--optimizeLevel', '3', '--shrinkLevel', '0')
  return flags
}

interface CacheEntry { deps: Map<string, string>, wasm: Uint8Array }
/** Bumped when what this file does to a module changes (old disk entries are then ignored). */
const CACHE_VERSION = 1
const cache = new Map<string, CacheEntry>()
let queue: Promise<unknown> = Promise.resolve()

/**
 * Compiles the AssemblyScript task at `sourcePath` to a task module. Throws
 * CompileError with the compiler's diagnostics (file, line, column, message)
 * when the source does not compile or the module would break the ABI (e.g.
 * Math.random pulls in env.seed). Results are cached in memory by the
 * content of every source file read, so recompiling unchanged sources is free.
 */
export async function compileTask (sourcePath: string, init: CompileTaskInit = {}): Promise<Uint8Array> {
  const abs = path.resolve(sourcePath)
  const key = `${abs}\0${init.optimize ?? true}\0${init.runtime ?? 'incremental'}\0${init.profile ?? 'task'}`
  const hit = cache.get(key)
  if (hit !== undefined && await depsUnchanged(hit.deps)) return hit.wasm.slice()
  const diskFile = diskPath(key, init)
  const fromDisk = diskFile === null ? null : await readDiskEntry(diskFile)
  if (fromDisk !== null && await depsUnchanged(fromDisk.deps)) {
    cache.set(key, fromDisk)
    return fromDisk.wasm.slice()
  }
  // Binaryen's optimizer settings are process-global: one compile at a time.
  const run = queue.then(() => compileOnce(abs, init))
  queue = run.catch(() => {})
  const entry = await run
  cache.set(key, entry)
  if (diskFile !== null) await writeDiskEntry(diskFile, entry)
  return entry.wasm.slice()
}

function diskPath (key: string, init: CompileTaskInit): string | null {
  if (init.cacheDir === false) return null
  const dir = init.cacheDir ?? process.env.WEBFABRIC_CACHE_DIR ?? path.join(tmpdir(), 'webfabric-task-cache')
  return path.join(dir, `${sha256(`${CACHE_VERSION}\0${asc.version}\0${key}`)}.json`)
}

async function readDiskEntry (file: string): Promise<CacheEntry | null> {
  try {
    const json = JSON.parse(await readFile(file, 'utf8')) as { deps: Array<[string, string]>, wasm: string }
    return { deps: new Map(json.deps), wasm: new Uint8Array(Buffer.from(json.wasm, 'base64')) }
  } catch {
    return null // missing or unreadable: compile
  }
}

/** Best effort: a cache that cannot be written only costs the next process a compile. */
async function writeDiskEntry (file: string, entry: CacheEntry): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true })
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
    await writeFile(tmp, JSON.stringify({ deps: [...entry.deps], wasm: Buffer.from(entry.wasm).toString('base64') }))
    await rename(tmp, file)
  } catch {}
}

async function depsUnchanged (deps: Map<string, string>): Promise<boolean> {
  for (const [file, digest] of deps) {
    let text: string
    try { text = await readFile(file, 'utf8') } catch { return false }
    if (sha256(text) !== digest) return false
  }
  return true
}

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Maps a path the compiler asks for onto the SDK when it names `@webfabric/sdk` in any node_modules (or our virtual one). */
function redirect (file: string): string {
  const marker = `${path.sep}${SDK_PACKAGE.replace('/', path.sep)}${path.sep}`
  const i = file.lastIndexOf(marker)
  if (i < 0) return file
  const parent = path.basename(file.slice(0, i))
  if (parent !== 'node_modules' && file.slice(0, i) !== VIRTUAL_MODULES) return file
  return path.join(SDK_ROOT, file.slice(i + marker.length))
}

async function compileOnce (abs: string, init: CompileTaskInit): Promise<CacheEntry> {
  init.signal?.throwIfAborted()
  const baseDir = path.dirname(abs)
  const deps = new Map<string, string>()
  /** Texts by the name the compiler used, to turn offsets into line:column. */
  const texts = new Map<string, string>()
  const diagnostics: CompileDiagnostic[] = []
  let wasm: Uint8Array | null = null
  let stderrText = ''

  const readSource = async (filename: string, dir: string): Promise<string | null> => {
    const real = redirect(path.resolve(dir, filename))
    let text: string
    try { text = await readFile(real, 'utf8') } catch { return null }
    deps.set(real, sha256(text))
    texts.set(path.resolve(dir, filename), text)
    return text
  }

  const abiTransform = makeAbiTransform(diagnostics)
  const result = await asc.main([path.basename(abs), '--baseDir', baseDir, '--outFile', 'task.wasm', ...compileFlags(init)], {
    readFile: readSource,
    writeFile: (name, contents) => {
      if (name.endsWith('.wasm') && typeof contents !== 'string') wasm = contents
    },
    listFiles: () => [],
    stdout: { write: () => {} },
    stderr: { write: (chunk) => { stderrText += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk) } },
    reportDiagnostic: (d) => {
      if (d.category !== 3 /* DiagnosticCategory.Error */) return
      diagnostics.push(locate(d, texts, baseDir))
    },
    transforms: [abiTransform as never]
  })
  if (result.error !== null || wasm === null || diagnostics.length > 0) {
    if (diagnostics.length === 0) {
      diagnostics.push({ file: abs, line: 0, column: 0, code: 0, message: (result.error?.message ?? 'no output') + (stderrText ? `\n${stderrText}` : '') })
    }
    throw new CompileError(abs, diagnostics)
  }
  const module = new WebAssembly.Module(wasm)
  const problems = checkAbi(module, wasm, init.profile)
  if (problems.length > 0) {
    throw new CompileError(abs, problems.map(message => ({ file: abs, line: 0, column: 0, code: 0, message })))
  }
  return { deps, wasm }
}

function locate (d: { code: number, message: string, range: { start: number, source: { normalizedPath: string } } | null }, texts: Map<string, string>, baseDir: string): CompileDiagnostic {
  if (d.range === null) return { file: '', line: 0, column: 0, code: d.code, message: d.message }
  const name = d.range.source.normalizedPath
  let file = name
  let text: string | undefined
  if (name.startsWith('~lib/')) {
    const rest = name.slice('~lib/'.length)
    for (const [f, t] of texts) if (f.endsWith(`${path.sep}${rest}`)) { file = redirect(f); text = t; break }
    if (text === undefined) text = asc.libraryFiles[rest.replace(/\.ts$/, '')]
  } else {
    file = path.resolve(baseDir, name)
    text = texts.get(file)
  }
  let line = 1
  let column = 1
  if (text !== undefined) {
    const before = text.slice(0, d.range.start)
    line = before.split('\n').length
    column = d.range.start - before.lastIndexOf('\n')
  }
  return { file, line, column, code: d.code, message: d.message }
}

/**
 * The ABI problems of a compiled module, as messages a task author can act
 * on: imports beyond the ABI, missing exports and, when the bytes are given,
 * a start section or a shared memory.
 */
export function checkAbi (module: WebAssembly.Module, bytes?: Uint8Array, profile: 'task' | 'process' = 'task'): string[] {
  const problems: string[] = []
  if (bytes !== undefined) {
    for (const section of sections(bytes)) {
      if (section.id === 8) problems.push('the module has a start function, which the VM refuses')
      if (section.id === 5 && (bytes[section.start + 1] & 0x02) !== 0) problems.push('the module declares a shared memory, which the VM refuses')
    }
  }
  const allowed = new Set((profile === 'process' ? PROCESS_IMPORTS : TASK_IMPORTS).map(([m, n]) => `${m}.${n}`))
  for (const imp of WebAssembly.Module.imports(module)) {
    const name = `${imp.module}.${imp.name}`
    if (allowed.has(name)) continue
    const hint = IMPORT_HINTS[name] ?? 'only the functions of @webfabric/sdk/assembly reach the host'
    problems.push(`the task imports ${name}, which the VM refuses: ${hint}`)
  }
  const exports = new Map(WebAssembly.Module.exports(module).map(e => [e.name, e.kind]))
  if (exports.get('memory') !== 'memory') problems.push('the task does not export its memory')
  if (exports.get('run') !== 'function') problems.push('the task does not export `run`: add `export function run (): void { … }`')
  return problems
}

/** Top-level sections of a wasm binary: id and where its payload starts. */
function sections (bytes: Uint8Array): Array<{ id: number, start: number }> {
  const out: Array<{ id: number, start: number }> = []
  let p = 8
  while (p < bytes.length) {
    const id = bytes[p++]
    let size = 0
    let shift = 0
    let b: number
    do { b = bytes[p++]; size += (b & 0x7f) * 2 ** shift; shift += 7 } while (b & 0x80)
    out.push({ id, start: p })
    p += size
  }
  return out
}

const IMPORT_HINTS: Record<string, string> = {
  'env.seed': 'Math.random is not deterministic; use randomU32/randomF64 from @webfabric/sdk/assembly',
  'env.trace': 'trace() has no host; use log() from @webfabric/sdk/assembly',
  'env.Date.now': 'tasks have no clock (their results must not depend on when they ran)',
  'env.console.log': 'use log() from @webfabric/sdk/assembly'
}

interface BinaryenLike {
  none: number
  getExportInfo (ref: number): { kind: number, name: string, value: string }
  getFunctionInfo (ref: number): { params: number, results: number }
  ExternalFunction: number
}
interface ModuleLike {
  getExport (name: string): number
  removeExport (name: string): void
  getFunction (name: string): number
  addFunction (name: string, params: number, results: number, vars: number[], body: number): number
  addFunctionExport (internal: string, external: string): number
  block (label: string | null, children: number[], type?: number): number
  call (name: string, operands: number[], type: number): number
}

/**
 * An AS transform (asc instantiates the class and gives it `binaryen`): the
 * VM refuses a start section, so the start function (global initialisers,
 * runtime setup) is exported as START_EXPORT by the flags and folded here into
 * a new `run` that calls it first, then the task's own `run`.
 */
function makeAbiTransform (diagnostics: CompileDiagnostic[]): unknown {
  return class AbiTransform {
    declare binaryen: BinaryenLike
    afterCompile (module: ModuleLike): void {
      const b = this.binaryen
      const runRef = module.getExport('run')
      if (!runRef) {
        diagnostics.push({ file: '', line: 0, column: 0, code: 0, message: 'the task does not export `run`: add `export function run (): void { … }`' })
        return
      }
      const run = b.getExportInfo(runRef)
      if (run.kind !== b.ExternalFunction) {
        diagnostics.push({ file: '', line: 0, column: 0, code: 0, message: '`run` must be a function' })
        return
      }
      const info = b.getFunctionInfo(module.getFunction(run.value))
      if (info.params !== b.none || info.results !== b.none) {
        diagnostics.push({ file: '', line: 0, column: 0, code: 0, message: '`run` must take no arguments and return nothing: `export function run (): void`' })
        return
      }
      const startRef = module.getExport(START_EXPORT)
      if (!startRef) return
      const start = b.getExportInfo(startRef).value
      module.removeExport(START_EXPORT)
      module.removeExport('run')
      const body = module.block(null, [module.call(start, [], b.none), module.call(run.value, [], b.none)], b.none)
      module.addFunction('~wf/run', b.none, b.none, [], body)
      module.addFunctionExport('~wf/run', 'run')
    }
  }
}
