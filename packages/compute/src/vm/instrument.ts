// The load-time half of the WebDeterministicVM: reads a WebAssembly module,
// refuses what the deterministic profile does not allow, and writes an
// instrumented copy with fuel metering, a deterministic stack-depth counter,
// NaN canonicalisation at the points where float bits become observable, and
// the memory cap. Pure and browser-safe: bytes in, bytes out.
//
// Design (README "The instrumenter"): one pass over the sections, one
// two-pass walk per function body (decode + cost the extended basic blocks,
// then emit). Untouched instructions are copied byte for byte; only the
// instructions whose immediates change (call, return_call, ref.func) or whose
// meaning we extend (return, float stores, bulk memory) are re-encoded.
import {
  allowedImports, DEPTH_EXPORT, EXTERNREF, F32, F64, FUEL_EXPORT, type FuncType, FUNCREF, I32, I64,
  type Profile, RESERVED_PREFIX, sameType, SLICE_END_MODULE, SLICE_END_NAME, START_EXPORT, typeString, V128
} from './abi.ts'
import { Reader, Writer } from './binary.ts'
import {
  ForbiddenImportError, InvalidModuleError, MemoryLimitError, MissingExportError, NondeterministicFeatureError,
  UnsupportedFeatureError
} from './errors.ts'

/** WebAssembly page size in bytes. */
export const PAGE_BYTES = 65536
/** Default memory cap: 256 MiB. */
export const DEFAULT_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
/** Tables are capped at this many entries (V8 allows 10M; other engines less): initial above it is refused, max lowered to it. */
export const TABLE_LIMIT = 1 << 20
/** Most locals a function may declare (V8's limit is 50,000; the instrumenter adds up to 5). */
export const MAX_LOCALS = 49_990
/**
 * The stack budget, in units of roughly one 8-byte stack slot. Every call to a function that makes calls
 * (or has a large frame) takes `FRAME_BASE_UNITS + params + locals` units until it returns; a call that
 * would take the budget below zero traps ('stack-overflow'). 65,536 units is about 512 KiB of frames,
 * well inside V8's ~1 MiB native stack on every thread; see the README's determinism rules.
 */
export const STACK_BUDGET_UNITS = 65_536
/** Fixed units per frame (return address, frame pointer, instance, spill slots). */
export const FRAME_BASE_UNITS = 8
/**
 * A function off every call cycle, that neither calls indirectly nor has its reference taken, is not counted
 * when its heaviest call chain takes at most this many units (the caller that is counted pays for it).
 */
export const CHAIN_FREE_UNITS = 1024
/**
 * A counted loop (see CountedLoop) whose iterations cost at most this much fuel in all is charged once, with
 * one check, before it starts, instead of a charge and a check per iteration; a longer one is left as it is.
 * This bounds the work between two checks (and so the length of a slice past its budget).
 */
export const PREPAY_MAX_FUEL = 65_536
/**
 * A function without loops, without bulk operations and without indirect calls, only ever called directly,
 * not counted for depth, and calling only such functions (or the host), is fuel-transparent when its costliest
 * path takes at most this much fuel: each call site prepays that path, with the block holding the call, and
 * the function itself never touches the fuel counter. It bounds what one call can do unchecked.
 */
export const TRANSPARENT_MAX_FUEL = 1024
/** … and when no path that returns takes more than this much less than the costliest: the most a call overpays. */
export const TRANSPARENT_SLACK_FUEL = 8
/**
 * An `if` without loops, calls, branches or bulk operations inside, whose arms' costs differ by at most this much
 * (an else-less one: whose then-arm costs at most this much), is charged its costlier arm with the block holding
 * it: its arms charge nothing, and a path through the cheaper arm overpays by at most this much.
 */
export const SLACK_FUEL = 8
/** Bulk memory and table operations are charged 1 fuel per 2^BULK_SHIFT bytes (or entries) on top of their static cost. */
export const BULK_SHIFT = 4
/**
 * The custom section of the branch hinting proposal: it marks the branches of our checks that end a slice (and
 * the rare paths of the depth and NaN checks) as unlikely, so an engine that reads it lays those paths out of
 * line and spills the registers their calls clobber there, not on the hot path. Hints change no result; an
 * engine that does not read them ignores the section (Chromium reads it; Node 24's V8 with
 * --experimental-wasm-branch-hinting).
 */
export const BRANCH_HINT_SECTION = 'metadata.code.branch_hint'

/** Options of `instrument`. */
export interface InstrumentInit {
  profile: Profile
  /** memory cap in bytes (a multiple of 64 KiB is used, rounding down); default 256 MiB */
  memoryLimitBytes?: number
}

/** What the instrumenter learned about a module (for the host and for tests). */
export interface ModuleInfo {
  /** `module.name` of each ABI import, in import order */
  imports: string[]
  /** number of functions defined by the module */
  functions: number
  /** initial memory pages and the (capped) maximum */
  memoryPages: { initial: number, maximum: number }
  /** true when the module had a start function (the VM runs it as `__wf_start` before `run`) */
  hasStart: boolean
}

/** Result of `instrument`. */
export interface Instrumented { bytes: Uint8Array, info: ModuleInfo }

// section ids and their canonical order
const SEC_ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 }

const CANON_F32_NAN = new Uint8Array([0x00, 0x00, 0xc0, 0x7f])
const CANON_F64_NAN = new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0x7f])

interface Table { refType: number, min: number, max: number }

/** Per-module state the body walker needs. */
interface Ctx {
  types: FuncType[]
  /** function index → type index (imports first) */
  funcTypeIdx: number[]
  importedFuncs: number
  /** index of wf.__slice_end in the instrumented module */
  sliceEndIdx: number
  fuelGlobal: number
  depthGlobal: number
  /** type index of `[] -> results`, per results signature, added on demand */
  blockTypeFor: (results: number[]) => number
  /** a call to f needs no write-back or reload of the fuel counter around it (f is fuel-transparent and never returns from the host) */
  quiet: (f: number) => boolean
  /** f takes the fuel counter as its last parameter and returns it as its last result (see `threaded`) */
  threaded: (f: number) => boolean
}

function valType (r: Reader, what: string): number {
  const b = r.u8()
  switch (b) {
    case I32: case I64: case F32: case F64: case FUNCREF: case EXTERNREF:
      return b
    case V128:
      throw new NondeterministicFeatureError('simd', `module uses the v128 type (SIMD) in ${what}: SIMD float lanes produce NaN bit patterns that differ across engines and CPUs, so the VM refuses SIMD; build without SIMD (asc without --enable simd)`)
    case 0x64: case 0x63:
      throw new UnsupportedFeatureError('typed-function-references')
    case 0x69:
      throw new UnsupportedFeatureError('exceptions')
    default:
      if (b >= 0x6a && b <= 0x74) throw new UnsupportedFeatureError('gc')
      return r.fail(`unknown value type 0x${b.toString(16)} in ${what}`)
  }
}

function funcType (r: Reader): FuncType {
  const form = r.u8()
  if (form === 0x4e || form === 0x50 || form === 0x4f || form === 0x5f || form === 0x5e) throw new UnsupportedFeatureError('gc')
  if (form !== 0x60) r.fail(`expected a function type (0x60), found 0x${form.toString(16)}`)
  const np = r.count(1)
  const params: number[] = []
  for (let i = 0; i < np; i++) params.push(valType(r, 'a function type'))
  const nr = r.count(1)
  const results: number[] = []
  for (let i = 0; i < nr; i++) results.push(valType(r, 'a function type'))
  return { params, results }
}

/** Limits of a table or memory; refuses shared, 64-bit and custom-page-size limits. */
function limits (r: Reader, what: 'memory' | 'table'): { min: number, max: number | null } {
  const flags = r.u8()
  if (flags === 0x02 || flags === 0x03) {
    throw new NondeterministicFeatureError('shared-memory', `module declares a shared ${what}: shared memory exists for threads, whose interleavings are not deterministic; build without threads`)
  }
  if (flags >= 0x04 && flags <= 0x07) throw new UnsupportedFeatureError('memory64')
  if (flags >= 0x08) throw new UnsupportedFeatureError('custom-page-sizes')
  const min = r.u32()
  const max = flags === 0x01 ? r.u32() : null
  if (max !== null && max < min) r.fail(`${what} maximum ${max} is below its minimum ${min}`)
  return { min, max }
}

/** Copies a constant expression (through its `end`), renumbering ref.func. */
function constExpr (r: Reader, w: Writer, remapFunc: (i: number) => number, funcCount: number): void {
  for (;;) {
    const start = r.pos
    const op = r.u8()
    switch (op) {
      case 0x0b: w.u8(op); return
      case 0x41: r.skipSigned(32); break
      case 0x42: r.skipSigned(64); break
      case 0x43: r.take(4); break
      case 0x44: r.take(8); break
      case 0x23: r.u32(); break // global.get
      case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: break // extended-const arithmetic
      case 0xd0: heapType(r); break
      case 0xd2: {
        const f = r.u32()
        if (f >= funcCount) r.fail(`ref.func ${f} names no function`)
        w.u8(0xd2)
        w.u32(remapFunc(f))
        continue
      }
      case 0xfd: throw new NondeterministicFeatureError('simd', 'module uses a v128 constant (SIMD): the VM refuses SIMD (NaN bit patterns differ across engines); build without SIMD')
      default: r.fail(`opcode 0x${op.toString(16)} is not allowed in a constant expression`)
    }
    w.bytes(r.bytes.subarray(start, r.pos))
  }
}

function heapType (r: Reader): void {
  const b = r.u8()
  if (b === FUNCREF || b === EXTERNREF) return
  if (b === 0x69 || b === 0x74) throw new UnsupportedFeatureError('exceptions')
  throw new UnsupportedFeatureError('typed-function-references')
}

/**
 * Parses `bytes`, refuses what the profile does not allow (named errors, see errors.ts) and returns the
 * instrumented module. Does not compile it; the caller does (WebAssembly.compile).
 */
export function instrument (bytes: Uint8Array, init: InstrumentInit): Instrumented {
  const capPages = Math.floor((init.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES) / PAGE_BYTES)
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new InvalidModuleError(bytes.length < 8 ? `not a WebAssembly module: only ${bytes.length} bytes (truncated)` : 'not a WebAssembly module: the bytes do not start with \\0asm')
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new InvalidModuleError('not a WebAssembly 1.0 core module (version is not 1; a component?): build a core module')
  }
  const allowed = allowedImports(init.profile)
  const r = new Reader(bytes, 8)

  const types: FuncType[] = []
  const imports: { module: string, name: string, typeIdx: number }[] = []
  const definedTypeIdx: number[] = []
  const tables: Table[] = []
  let memory: { min: number, max: number } | null = null
  let globalCount = 0
  let globalsBody: Writer | null = null
  let globalsRaw: Uint8Array | null = null
  let exportsRaw: Uint8Array | null = null
  let start: number | null = null
  let elemRaw: Uint8Array | null = null
  let dataCount: Uint8Array | null = null
  let codeRaw: Uint8Array | null = null
  let dataRaw: Uint8Array | null = null
  let functionRaw: Uint8Array | null = null
  let lastRank = 0

  while (!r.done) {
    const id = r.u8()
    const size = r.u32()
    const payload = r.take(size)
    if (id === 0) continue // custom sections (names, producers, source maps) are dropped
    const rank = SEC_ORDER[id]
    if (rank === undefined) throw new InvalidModuleError(`unknown section id ${id}: rebuild the module with a WebAssembly 1.0 toolchain`)
    if (rank <= lastRank) throw new InvalidModuleError(`section ${id} is duplicated or out of order: the module is malformed`)
    lastRank = rank
    const s = new Reader(bytes, payload.byteOffset - bytes.byteOffset, payload.byteOffset - bytes.byteOffset + size)
    switch (id) {
      case 1: {
        const n = s.count(3)
        for (let i = 0; i < n; i++) types.push(funcType(s))
        break
      }
      case 2: {
        const n = s.count(4)
        for (let i = 0; i < n; i++) {
          const module = s.name()
          const name = s.name()
          const key = `${module}.${name}`
          const kind = s.u8()
          if (kind !== 0) {
            if (kind === 2) limits(s, 'memory') // a shared memory import is refused as such
            const what = ['function', 'table', 'memory', 'global', 'tag'][kind] ?? `kind ${kind}`
            throw new ForbiddenImportError(key, `import ${key} is a ${what}: a task may import only the functions of the task ABI (packages/compute/ABI.md); define and export its own memory`)
          }
          const typeIdx = s.u32()
          if (typeIdx >= types.length) s.fail(`import ${key} names type ${typeIdx}, which does not exist`)
          const want = allowed[key]
          if (want === undefined) {
            const hint = init.profile === 'task' && allowedImports('process')[key] !== undefined ? ' (it is for processes only: load the module with profile \'process\')' : ''
            throw new ForbiddenImportError(key, `import ${key} is not allowed in profile '${init.profile}'${hint}: a module may import only the functions of the task ABI (packages/compute/ABI.md)`)
          }
          if (!sameType(want, types[typeIdx])) {
            throw new ForbiddenImportError(key, `import ${key} has type ${typeString(types[typeIdx])}, but the task ABI defines it as ${typeString(want)}: fix its declaration`)
          }
          imports.push({ module, name, typeIdx })
        }
        break
      }
      case 3: {
        const n = s.count(1)
        for (let i = 0; i < n; i++) {
          const t = s.u32()
          if (t >= types.length) s.fail(`function ${i} names type ${t}, which does not exist`)
          definedTypeIdx.push(t)
        }
        functionRaw = payload
        break
      }
      case 4: {
        const n = s.count(3)
        for (let i = 0; i < n; i++) {
          const refType = s.u8()
          if (refType === 0x40) throw new UnsupportedFeatureError('typed-function-references')
          if (refType !== FUNCREF && refType !== EXTERNREF) {
            if (refType === 0x64 || refType === 0x63) throw new UnsupportedFeatureError('typed-function-references')
            s.fail(`unknown table element type 0x${refType.toString(16)}`)
          }
          const l = limits(s, 'table')
          if (l.min > TABLE_LIMIT) throw new MemoryLimitError(`table ${i} starts with ${l.min} entries, over the VM's table cap of ${TABLE_LIMIT}: shrink the table`)
          tables.push({ refType, min: l.min, max: Math.min(l.max ?? TABLE_LIMIT, TABLE_LIMIT) })
        }
        break
      }
      case 5: {
        const n = s.count(2)
        if (n > 1) throw new UnsupportedFeatureError('multi-memory', `module declares ${n} memories: a task has exactly one memory (multi-memory is not supported); build with one memory`)
        if (n === 1) {
          const l = limits(s, 'memory')
          if (l.min > capPages) {
            throw new MemoryLimitError(`module's initial memory is ${l.min} pages (${l.min * 64} KiB), over the memory cap of ${capPages} pages (${capPages * 64} KiB): lower its initial memory (asc --initialMemory) or raise memoryLimitBytes`)
          }
          memory = { min: l.min, max: Math.min(l.max ?? 65536, capPages) }
        }
        break
      }
      case 13:
        throw new UnsupportedFeatureError('exceptions', 'module declares exception tags: exception handling is not supported by the deterministic VM (it would unwind past the depth counter); build without exceptions')
      case 6: {
        globalCount = s.count(3)
        globalsRaw = payload
        break
      }
      case 7: exportsRaw = payload; break
      case 8: start = s.u32(); break
      case 9: elemRaw = payload; break
      case 12: dataCount = payload; break
      case 10: codeRaw = payload; break
      case 11: dataRaw = payload; break
    }
    if (id !== 6 && id !== 7 && id !== 9 && id !== 10 && id !== 11 && id !== 12 && !s.done) s.fail(`section ${id} has ${s.remaining} trailing bytes`)
  }

  // function index space: imports, then the added wf.__slice_end, then the module's functions
  const importedFuncs = imports.length
  const funcCount = importedFuncs + definedTypeIdx.length
  const remapFunc = (i: number): number => i < importedFuncs ? i : i + 1
  /** functions whose reference is taken (tables, ref.func): callable indirectly, so counted for depth */
  const referenced = new Set<number>()
  const refFunc = (i: number): number => { referenced.add(i); return remapFunc(i) }
  /** functions the host calls (exports, the start function) */
  const entered = new Set<number>()
  if (memory === null) throw new MissingExportError('memory', 'module defines no memory: a task must define one memory and export it as "memory"')

  // types we may add
  const extraTypes: FuncType[] = []
  const findType = (t: FuncType): number => {
    const i = types.findIndex(x => sameType(x, t))
    if (i >= 0) return i
    const j = extraTypes.findIndex(x => sameType(x, t))
    if (j >= 0) return types.length + j
    extraTypes.push(t)
    return types.length + extraTypes.length - 1
  }
  const sliceEndType = findType({ params: [], results: [] })

  // globals: copy, renumbering ref.func; then add fuel (i64) and depth (i32)
  globalsBody = new Writer()
  if (globalsRaw !== null) {
    const s = new Reader(bytes, globalsRaw.byteOffset - bytes.byteOffset, globalsRaw.byteOffset - bytes.byteOffset + globalsRaw.length)
    s.count(3)
    for (let i = 0; i < globalCount; i++) {
      const t = valType(s, 'a global')
      const mut = s.u8()
      if (mut > 1) s.fail('global mutability flag is not 0 or 1')
      globalsBody.u8(t)
      globalsBody.u8(mut)
      constExpr(s, globalsBody, refFunc, funcCount)
    }
    if (!s.done) s.fail('global section has trailing bytes')
  }
  const fuelGlobal = globalCount
  const depthGlobal = globalCount + 1

  // exports: renumber functions; check memory and run; add ours
  const exportsBody = new Writer()
  let exportCount = 0
  let runFound = false
  let memoryFound = false
  if (exportsRaw !== null) {
    const s = new Reader(bytes, exportsRaw.byteOffset - bytes.byteOffset, exportsRaw.byteOffset - bytes.byteOffset + exportsRaw.length)
    exportCount = s.count(3)
    for (let i = 0; i < exportCount; i++) {
      const name = s.name()
      const kind = s.u8()
      const idx = s.u32()
      if (name.startsWith(RESERVED_PREFIX)) throw new InvalidModuleError(`module exports ${name}: names starting with ${RESERVED_PREFIX} are reserved for the VM; rename it`)
      if (kind > 4) s.fail(`export ${name} has unknown kind ${kind}`)
      if (kind === 0 && idx >= funcCount) s.fail(`export ${name} names function ${idx}, which does not exist`)
      if (kind === 0) entered.add(idx)
      if (name === 'memory') {
        if (kind !== 2) throw new MissingExportError('memory', 'module exports "memory" but not as a memory: export its memory as "memory"')
        memoryFound = true
      }
      if (name === 'run') {
        if (kind !== 0) throw new MissingExportError('run', 'module exports "run" but not as a function: export the entry point run: () -> ()')
        const t = types[idx < importedFuncs ? imports[idx].typeIdx : definedTypeIdx[idx - importedFuncs]]
        if (t.params.length !== 0 || t.results.length !== 0) throw new MissingExportError('run', `module exports run with type ${typeString(t)}: the entry point must be run: () -> ()`)
        runFound = true
      }
      exportsBody.name(name)
      exportsBody.u8(kind)
      exportsBody.u32(kind === 0 ? remapFunc(idx) : idx)
    }
    if (!s.done) s.fail('export section has trailing bytes')
  }
  if (!memoryFound) throw new MissingExportError('memory')
  if (!runFound) throw new MissingExportError('run')
  exportsBody.name(FUEL_EXPORT); exportsBody.u8(3); exportsBody.u32(fuelGlobal)
  exportsBody.name(DEPTH_EXPORT); exportsBody.u8(3); exportsBody.u32(depthGlobal)
  exportCount += 2
  if (start !== null) {
    if (start >= funcCount) throw new InvalidModuleError(`start function ${start} does not exist: the module is malformed`)
    exportsBody.name(START_EXPORT); exportsBody.u8(0); exportsBody.u32(remapFunc(start))
    exportCount++
  }

  // element segments: renumber function indices
  let elemOut: Writer | null = null
  if (elemRaw !== null) {
    elemOut = new Writer()
    const s = new Reader(bytes, elemRaw.byteOffset - bytes.byteOffset, elemRaw.byteOffset - bytes.byteOffset + elemRaw.length)
    const n = s.count(2)
    elemOut.u32(n)
    for (let i = 0; i < n; i++) {
      const flags = s.u32()
      if (flags > 7) s.fail(`element segment flags ${flags} unknown`)
      elemOut.u32(flags)
      if ((flags & 1) === 0 && (flags & 2) !== 0) elemOut.u32(s.u32()) // table index
      if ((flags & 1) === 0) constExpr(s, elemOut, refFunc, funcCount) // offset
      if ((flags & 3) !== 0) {
        const k = s.u8() // elemkind (0x00) or reftype
        if ((flags & 4) !== 0 && k !== FUNCREF && k !== EXTERNREF) throw new UnsupportedFeatureError('typed-function-references')
        elemOut.u8(k)
      }
      const m = s.count(1)
      elemOut.u32(m)
      for (let j = 0; j < m; j++) {
        if ((flags & 4) === 0) {
          const f = s.u32()
          if (f >= funcCount) s.fail(`element segment names function ${f}, which does not exist`)
          elemOut.u32(refFunc(f))
        } else {
          constExpr(s, elemOut, refFunc, funcCount)
        }
      }
    }
    if (!s.done) s.fail('element section has trailing bytes')
  }

  // code
  const funcTypeIdx = [...imports.map(i => i.typeIdx), ...definedTypeIdx]
  const ctx: Ctx = {
    types,
    funcTypeIdx,
    importedFuncs,
    sliceEndIdx: importedFuncs,
    fuelGlobal,
    depthGlobal,
    blockTypeFor: results => findType({ params: [], results }),
    quiet: () => false,
    threaded: () => false
  }
  const codeOut = new Writer(codeRaw === null ? 16 : codeRaw.length * 2 + 64)
  let functionOut: Writer | null = null
  const hints: { func: number, unlikely: number[] }[] = []
  {
    const n = definedTypeIdx.length
    if (codeRaw === null) {
      if (n !== 0) throw new InvalidModuleError(`module declares ${n} functions but has no code section: the module is malformed`)
    } else {
      const s = new Reader(bytes, codeRaw.byteOffset - bytes.byteOffset, codeRaw.byteOffset - bytes.byteOffset + codeRaw.length)
      const m = s.count(2)
      if (m !== n) s.fail(`code section has ${m} bodies for ${n} declared functions`)
      codeOut.u32(n)
      const decoded: Decoded[] = []
      for (let i = 0; i < n; i++) {
        const size = s.u32()
        const body = s.take(size)
        const d = instrumentBody(body, types[definedTypeIdx[i]], ctx)
        for (const f of d.refs) referenced.add(f)
        decoded.push(d)
      }
      if (!s.done) s.fail('code section has trailing bytes')
      const { units, order } = depthUnits(decoded, importedFuncs, referenced)
      // A function only ever called directly, that does not count depth, has its entry block charged at its
      // call sites (with the block holding the call) instead of on entry: one charge less per call. If it is
      // also fuel-transparent (see TRANSPARENT_MAX_FUEL), its call sites prepay its costliest path and it has
      // no charge at all; calls to it skip the write-back and reload of the counter unless it can return from
      // the host. Callees first, so a moved cost already holds the costs of the functions it calls.
      if (start !== null) entered.add(start)
      const moved = new Array<number>(n).fill(0)
      const transparent = new Uint8Array(n) // 1: transparent; 2: transparent, and a host call may return into it
      for (const i of order) {
        const d = decoded[i]
        d.chargeCallees(f => f < importedFuncs ? 0 : moved[f - importedFuncs])
        if (units[i] !== 0 || referenced.has(i + importedFuncs) || entered.has(i + importedFuncs)) continue
        const { most, least } = d.callees.every(f => f < importedFuncs || transparent[f - importedFuncs] !== 0)
          ? d.paths(f => f < importedFuncs ? 0 : moved[f - importedFuncs])
          : { most: Infinity, least: 0 }
        if (most <= TRANSPARENT_MAX_FUEL && most - least <= TRANSPARENT_SLACK_FUEL) {
          d.makeTransparent()
          moved[i] = most
          transparent[i] = d.hostReturns || d.callees.some(f => f >= importedFuncs && transparent[f - importedFuncs] === 2) ? 2 : 1
        } else {
          moved[i] = d.takeEntry()
        }
      }

      ctx.quiet = f => f >= importedFuncs && transparent[f - importedFuncs] === 1
      // A function only ever called directly (not exported, not the start function, its reference never taken),
      // not fuel-transparent and with no tail call on either side, takes the fuel counter from its caller as an
      // extra last parameter and hands it back as an extra last result: a call to it costs no write-back,
      // reload, entry load or exit store of the global. The global is exact only where something reads it: at
      // slice ends, host calls, indirect calls and calls into (or returns from) functions the host can enter.
      const tailTargets = new Set<number>()
      for (const d of decoded) for (const f of d.tailCallees) tailTargets.add(f)
      const threaded = new Uint8Array(n)
      for (let i = 0; i < n; i++) {
        const f = i + importedFuncs
        if (transparent[i] === 0 && !referenced.has(f) && !entered.has(f) && !decoded[i].tailCalls && !tailTargets.has(f)) threaded[i] = 1
      }
      ctx.threaded = f => f >= importedFuncs && threaded[f - importedFuncs] === 1
      functionOut = new Writer()
      functionOut.u32(n)
      for (let i = 0; i < n; i++) {
        const t = types[definedTypeIdx[i]]
        functionOut.u32(threaded[i] === 1 ? findType({ params: [...t.params, I64], results: [...t.results, I64] }) : definedTypeIdx[i])
      }
      // A function with two or more call sites of charging functions of the module checks fuel at entry (if it
      // does not already): without it, a tree of loop-free functions each calling the next twice runs 2^depth
      // calls with no check between them. With it, the work between two checks is at most one such function's
      // body with the calls of a single call site at each level below it (a chain, as deep as the stack allows).
      const fans = (d: Decoded): boolean => d.callees.filter(f => f >= importedFuncs && transparent[f - importedFuncs] === 0).length >= 2
      for (let i = 0; i < n; i++) {
        const { bytes: out, unlikely } = decoded[i].emit(units[i], fans(decoded[i]), threaded[i] === 1)
        if (unlikely.length > 0) hints.push({ func: remapFunc(i + importedFuncs), unlikely })
        codeOut.u32(out.length)
        codeOut.bytes(out)
      }
    }
  }
  if (functionRaw === null && definedTypeIdx.length > 0) throw new InvalidModuleError('module is malformed')

  // assemble
  const out = new Writer(bytes.length * 2 + 256)
  out.bytes(bytes.subarray(0, 8))
  const section = (id: number, body: Writer): void => { out.u8(id); out.sized(body) }
  {
    const w = new Writer()
    w.u32(types.length + extraTypes.length)
    for (const t of [...types, ...extraTypes]) {
      w.u8(0x60)
      w.u32(t.params.length); for (const p of t.params) w.u8(p)
      w.u32(t.results.length); for (const p of t.results) w.u8(p)
    }
    section(1, w)
  }
  {
    const w = new Writer()
    w.u32(imports.length + 1)
    for (const i of imports) { w.name(i.module); w.name(i.name); w.u8(0); w.u32(i.typeIdx) }
    w.name(SLICE_END_MODULE); w.name(SLICE_END_NAME); w.u8(0); w.u32(sliceEndType)
    section(2, w)
  }
  if (functionOut !== null) section(3, functionOut)
  if (tables.length > 0) {
    const w = new Writer()
    w.u32(tables.length)
    for (const t of tables) { w.u8(t.refType); w.u8(1); w.u32(t.min); w.u32(t.max) }
    section(4, w)
  }
  {
    const w = new Writer()
    w.u32(1); w.u8(1); w.u32(memory.min); w.u32(memory.max)
    section(5, w)
  }
  {
    const w = new Writer()
    w.u32(globalCount + 2)
    w.bytes(globalsBody.finish())
    w.u8(I64); w.u8(1); w.u8(0x42); w.u8(0); w.u8(0x0b)
    w.u8(I32); w.u8(1); w.u8(0x41); w.sleb(STACK_BUDGET_UNITS); w.u8(0x0b)
    section(6, w)
  }
  {
    const w = new Writer()
    w.u32(exportCount)
    w.bytes(exportsBody.finish())
    section(7, w)
  }
  if (elemOut !== null) section(9, elemOut)
  if (dataCount !== null) { const w = new Writer(); w.bytes(dataCount); section(12, w) }
  if (hints.length > 0) { // before the code section; per function, in order: (offset in its body, 1 byte, hint 0 = unlikely)
    const w = new Writer()
    w.name(BRANCH_HINT_SECTION)
    w.u32(hints.length)
    for (const h of hints) {
      w.u32(h.func)
      w.u32(h.unlikely.length)
      for (const at of h.unlikely) { w.u32(at); w.u8(1); w.u8(0) }
    }
    section(0, w)
  }
  if (codeRaw !== null) section(10, codeOut)
  if (dataRaw !== null) { const w = new Writer(); w.bytes(dataRaw); section(11, w) }

  return {
    bytes: out.finish().slice(),
    info: {
      imports: imports.map(i => `${i.module}.${i.name}`),
      functions: definedTypeIdx.length,
      memoryPages: { initial: memory.min, maximum: memory.max },
      hasStart: start !== null
    }
  }
}

// ---- function bodies ----------------------------------------------------

// instruction kinds recorded by the decode pass
const K_COPY = 0 // copied as is
const K_CALL = 1 // call f / return_call f: renumber
const K_REF_FUNC = 2
const K_RETURN = 3
const K_RETURN_CALL = 4 // return_call f (renumber + depth release before)
const K_RETURN_CALL_INDIRECT = 5 // depth release before
const K_SINK_F32 = 6 // canonicalise the f32 on top first
const K_SINK_F64 = 7
const K_BULK = 8 // charge the length on top first
const K_LEADER_UNCHECKED = 9 // if / else / end: a new extended basic block follows
const K_LOOP = 10 // a new block follows, with a fuel check
const K_BLOCK = 11 // opens a label; no new basic block
const K_FINAL_END = 12
const K_CALL_INDIRECT = 13

// kinds of labels open while emitting (see emitBody)
const L_MODULE = 0
const L_OURS = 1
const L_RETRY = 2

/**
 * A counted loop, `loop { if (i < n) { body; i = i + 1; br 0 } }` with `i` a local, `n` a local or an i32
 * constant, `<` signed or unsigned (or `n > i`), and a body that writes neither `i` (but for the increment) nor `n`, has no
 * loop, call, return, bulk operation or branch out of the `if`: its head runs exactly `n - i + 1` times (0
 * when `n <= i`), so its head charges can be paid, and checked, once before it (see PREPAY_MAX_FUEL).
 */
interface CountedLoop {
  /** index of the instruction that ends the loop */
  end: number
  /** index of the instruction reading `i`, and of the one reading `n` (local.get or i32.const) */
  counter: number
  bound: number
  /** an unsigned comparison */
  unsigned: boolean
  /** static cost of the whole loop, an upper bound of one iteration's fuel */
  work: number
}

/** Finds the counted loops of a decoded body, keyed by the index of their `loop` instruction. */
function countedLoops (body: Uint8Array, starts: number[], kinds: number[], costs: number[]): Map<number, CountedLoop> {
  const found = new Map<number, CountedLoop>()
  const op = (j: number): number => body[starts[j]]
  const imm = (j: number): number => new Reader(body, starts[j] + 1, starts[j + 1]).u32()
  for (let i = 0; i + 10 < kinds.length; i++) {
    if (kinds[i] !== K_LOOP || body[starts[i] + 1] !== 0x40) continue
    const cmp = op(i + 3) // i32.lt_s, lt_u (i < n), gt_s, gt_u (n > i)
    if (cmp < 0x48 || cmp > 0x4b || op(i + 4) !== 0x04 || body[starts[i + 4] + 1] !== 0x40) continue
    const at = cmp <= 0x49 ? i + 1 : i + 2
    const nAt = cmp <= 0x49 ? i + 2 : i + 1
    if (op(at) !== 0x20 || (op(nAt) !== 0x20 && op(nAt) !== 0x41)) continue
    const counter = imm(at)
    const bound = op(nAt) === 0x20 ? imm(nAt) : -1
    let depth = 0
    let j = i + 5
    let ok = true
    let work = costs[i] + costs[i + 1] + costs[i + 2] + costs[i + 3] + costs[i + 4]
    for (; j < kinds.length && ok; j++) {
      const o = op(j)
      const k = kinds[j]
      if (o === 0x0b) { if (depth === 0) break; depth-- } else if (o === 0x02 || o === 0x04) depth++
      else if (o === 0x05) ok = depth > 0
      else if (o === 0x0c || o === 0x0d) ok = imm(j) < depth || (o === 0x0c && depth === 0 && imm(j) === 1 && op(j + 1) === 0x0b)
      else if (o === 0x0e) {
        const t = new Reader(body, starts[j] + 1, starts[j + 1])
        const n = t.u32()
        for (let x = 0; x <= n; x++) if (t.u32() >= depth) ok = false
      } else if (o === 0x21 || o === 0x22) ok = imm(j) !== bound && (imm(j) !== counter || (o === 0x21 && depth === 0 && op(j + 1) === 0x0c))
      else if (k === K_LOOP || k === K_CALL || k === K_CALL_INDIRECT || k === K_RETURN_CALL || k === K_RETURN_CALL_INDIRECT || k === K_RETURN || k === K_BULK) ok = false
      work += costs[j]
    }
    // the then-arm ends `local.get i; i32.const 1; i32.add; local.set i; br 1`, then the if's end and the loop's
    if (!ok || j + 1 >= kinds.length || op(j + 1) !== 0x0b || j - 5 < i + 5) continue
    if (op(j - 1) !== 0x0c || op(j - 2) !== 0x21 || imm(j - 2) !== counter || op(j - 3) !== 0x6a) continue
    if (op(j - 4) !== 0x41 || body[starts[j - 4] + 1] !== 0x01 || starts[j - 3] !== starts[j - 4] + 2) continue
    if (op(j - 5) !== 0x20 || imm(j - 5) !== counter) continue
    found.set(i, { end: j + 1, counter: at, bound: nAt, unsigned: cmp === 0x49 || cmp === 0x4b, work })
  }
  return found
}

/**
 * The most fuel any path through a loop-free body takes (`most`; else the least any path that returns takes):
 * every instruction's cost, plus `calleeCost` of each function it calls directly. A path ends at the
 * function's end, a `return`, a tail call or a trap (`unreachable`: the fuel it took is still charged);
 * branches (all forward without loops) join at their target's `end`, an `if` at its `end` (or its `else`).
 */
function pathCost (body: Uint8Array, starts: number[], kinds: number[], args: number[], costs: number[], calleeCost: (f: number) => number, most: boolean): number {
  const NONE = most ? -Infinity : Infinity // no path reaches this point
  const pick = most ? Math.max : Math.min
  const open: { entry: number, join: number, isIf: boolean, hasElse: boolean }[] = []
  let cur = 0 // the fuel paths reaching this point have taken, the most (or the least)
  let exit = NONE
  const target = (d: number, v: number): void => {
    if (d >= open.length) exit = pick(exit, v)
    else { const c = open[open.length - 1 - d]; c.join = pick(c.join, v) }
  }
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]
    const op = body[starts[i]]
    cur += costs[i] + (k === K_CALL || k === K_RETURN_CALL ? calleeCost(args[i]) : 0)
    if (k === K_FINAL_END) break
    switch (op) {
      case 0x02: case 0x04: open.push({ entry: cur, join: NONE, isIf: op === 0x04, hasElse: false }); break
      case 0x05: { const c = open[open.length - 1]; c.join = pick(c.join, cur); c.hasElse = true; cur = c.entry; break }
      case 0x0b: { const c = open.pop()!; cur = pick(cur, c.join, c.isIf && !c.hasElse ? c.entry : NONE); break }
      case 0x0c: target(new Reader(body, starts[i] + 1, starts[i + 1]).u32(), cur); cur = NONE; break
      case 0x0d: target(new Reader(body, starts[i] + 1, starts[i + 1]).u32(), cur); break
      case 0x0e: {
        const t = new Reader(body, starts[i] + 1, starts[i + 1])
        const n = t.u32()
        for (let x = 0; x <= n; x++) target(t.u32(), cur)
        cur = NONE
        break
      }
      case 0x00: if (most) exit = pick(exit, cur); cur = NONE; break
      case 0x0f: case 0x12: exit = pick(exit, cur); cur = NONE; break
    }
  }
  return pick(cur, exit)
}

/** Most instructions between a float store and the branch back to its loop for the store to be checked out of line. */
const FIX_TAIL_MAX = 16

/**
 * The float stores whose NaN check can branch out of their loop: a store inside a loop without parameters,
 * followed only by up to FIX_TAIL_MAX plain instructions (locals, globals, constants, numeric operations,
 * loads, drop: the "tail", which never reaches below the operand stack it starts on) and then `br` to that
 * loop, its innermost. Keyed by the innermost loop's instruction index: the store's index and the `br`'s.
 * A NaN then leaves the loop to code after it that stores the canonical NaN, runs the tail again and
 * re-enters the loop, which is what the `br` did: the checked path falls through, with no taken branch.
 */
function outOfLineStores (body: Uint8Array, starts: number[], kinds: number[]): Map<number, { store: number, br: number }[]> {
  const found = new Map<number, { store: number, br: number }[]>()
  const open: number[] = [] // per open construct: its loop's instruction index, or -1
  for (let i = 0; i < kinds.length; i++) {
    const op = body[starts[i]]
    if (op === 0x02 || op === 0x04) open.push(-1)
    else if (op === 0x03) open.push((body[starts[i] + 1] & 0xc0) === 0x40 ? i : -2) // -2: a loop with parameters
    else if (op === 0x0b) open.pop()
    else if ((kinds[i] === K_SINK_F32 && op === 0x38) || (kinds[i] === K_SINK_F64 && op === 0x39)) {
      let d = open.length - 1
      while (d >= 0 && open[d] === -1) d--
      if (d < 0 || open[d] < 0) continue
      const depth = open.length - 1 - d
      let height = 0
      let j = i + 1
      for (; j < kinds.length && j - i <= FIX_TAIL_MAX && kinds[j] === K_COPY; j++) {
        const effect = stackEffect(body[starts[j]])
        if (effect === null || height < effect[0]) break
        height += effect[1] - effect[0]
      }
      if (j - i > FIX_TAIL_MAX || body[starts[j]] !== 0x0c || new Reader(body, starts[j] + 1, starts[j + 1]).u32() !== depth) continue
      const list = found.get(open[d]) ?? []
      list.push({ store: i, br: j })
      found.set(open[d], list)
    }
  }
  return found
}

/** [operands taken, results left] of the plain instructions a store's tail may hold (see outOfLineStores), else null. */
function stackEffect (op: number): [number, number] | null {
  if (op === 0x1a || op === 0x21 || op === 0x24) return [1, 0] // drop, local.set, global.set
  if (op === 0x20 || op === 0x23 || (op >= 0x41 && op <= 0x44)) return [0, 1] // local.get, global.get, constants
  if (op === 0x22 || (op >= 0x28 && op <= 0x35)) return [1, 1] // local.tee, loads
  if (op === 0x45 || op === 0x50 || (op >= 0x67 && op <= 0x69) || (op >= 0x79 && op <= 0x7b) || (op >= 0x8b && op <= 0x91) ||
    (op >= 0x99 && op <= 0x9f) || (op >= 0xa7 && op <= 0xc4)) return [1, 1] // unary numeric and conversions
  if (op >= 0x46 && op <= 0xa6) return [2, 1] // binary numeric and comparisons
  return null
}

/** A decoded function body, ready to emit once the module-wide depth accounting is known. */
interface Decoded {
  /** frame weight in stack units: FRAME_BASE_UNITS + params + locals */
  weight: number
  /** functions it calls directly (function index space, imports included) */
  callees: number[]
  /** it has call_indirect / return_call_indirect */
  indirect: boolean
  /** functions whose reference it takes (ref.func) */
  refs: number[]
  /** it calls a host function that can return to it (so the host may change the fuel counter under it) */
  hostReturns: boolean
  /** it makes a tail call (return_call, return_call_indirect) */
  tailCalls: boolean
  /** functions it tail-calls directly */
  tailCallees: number[]
  /** the most fuel any path through it takes, and the least any path that returns takes, its calls costing `calleeCost` more (most: Infinity if it loops or charges by size) */
  paths: (calleeCost: (f: number) => number) => { most: number, least: number }
  /** makes it fuel-transparent: no charge, check or counter access of its own (its callers prepay maxPath) */
  makeTransparent: () => void
  /** emits the instrumented body; `units` > 0: it takes that many depth units while active (and checks fuel at entry); `entryCheck`: it checks fuel at entry anyway */
  emit: (units: number, entryCheck: boolean, threaded: boolean) => { bytes: Uint8Array, unlikely: number[] }
  /** adds the entry cost of each directly called function (by index) to the block holding the call */
  chargeCallees: (entryCost: (f: number) => number) => void
  /** stops charging the entry block (its callers pay it) and returns its cost */
  takeEntry: () => number
}

/**
 * Which functions count stack depth, and how many units each takes (0: not counted).
 * Counted: functions on a cycle of direct calls, functions that call indirectly, functions whose reference
 * is taken, and any whose uncounted call chain would exceed CHAIN_FREE_UNITS. Every recursion passes through
 * a counted function, so an uncounted function appears at most once on any stack; a counted function
 * takes its own weight plus the heaviest uncounted chain below it, so the budget covers the whole stack.
 * Also returns the functions in an order that puts callees before callers (but within a cycle).
 */
function depthUnits (fns: Decoded[], imported: number, referenced: Set<number>): { units: number[], order: number[] } {
  const n = fns.length
  // Tarjan's SCC, iterative (a hostile call graph must not overflow our own stack); SCCs come out callees first
  const index = new Int32Array(n).fill(-1)
  const low = new Int32Array(n)
  const onStack = new Uint8Array(n)
  const cyclic = new Uint8Array(n)
  const stack: number[] = []
  const order: number[] = [] // functions in SCC completion order (callees before callers)
  let next = 0
  const edges = fns.map(f => f.callees.filter(c => c >= imported).map(c => c - imported))
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue
    const work: [number, number][] = [[root, 0]]
    while (work.length > 0) {
      const top = work[work.length - 1]
      const v = top[0]
      if (top[1] === 0 && index[v] === -1) {
        index[v] = low[v] = next++
        stack.push(v)
        onStack[v] = 1
      }
      if (top[1] < edges[v].length) {
        const w = edges[v][top[1]++]
        if (index[w] === -1) work.push([w, 0])
        else if (onStack[w] === 1) low[v] = Math.min(low[v], index[w])
        continue
      }
      work.pop()
      if (work.length > 0) { const u = work[work.length - 1][0]; low[u] = Math.min(low[u], low[v]) }
      if (low[v] === index[v]) {
        let w: number
        const members: number[] = []
        do { w = stack.pop()!; onStack[w] = 0; members.push(w) } while (w !== v)
        if (members.length > 1 || edges[v].includes(v)) for (const m of members) cyclic[m] = 1
        order.push(...members)
      }
    }
  }
  const units = new Array<number>(n).fill(0)
  const chain = new Array<number>(n).fill(0) // uncounted stack weight from entering f (0 when f is counted)
  for (const f of order) {
    let below = 0
    for (const g of edges[f]) below = Math.max(below, chain[g])
    const own = fns[f].weight + below
    const counted = cyclic[f] === 1 || fns[f].indirect || referenced.has(f + imported) || own > CHAIN_FREE_UNITS
    units[f] = counted ? own : 0
    chain[f] = counted ? 0 : own
  }
  return { units, order }
}

/** Decodes one function body (locals + code); the result emits it instrumented. */
function instrumentBody (body: Uint8Array, type: FuncType, ctx: Ctx): Decoded {
  const r = new Reader(body)
  const nDecl = r.count(2)
  const decls: { n: number, t: number }[] = []
  let locals = 0
  for (let i = 0; i < nDecl; i++) {
    const n = r.u32()
    const t = valType(r, 'a local declaration')
    locals += n
    if (locals > MAX_LOCALS) throw new InvalidModuleError(`a function declares over ${MAX_LOCALS} locals: the VM refuses it (engines cap locals); split the function`)
    decls.push({ n, t })
  }
  const nLocals = type.params.length + locals
  const T32 = nLocals + 1
  const TF32 = nLocals + 2
  const TF64 = nLocals + 3
  const TRIP = nLocals + 4
  const nTypes = ctx.types.length
  const nFuncs = ctx.funcTypeIdx.length

  // pass 1: decode, record kinds, cost the extended basic blocks
  const starts: number[] = []
  const kinds: number[] = []
  const args: number[] = []
  const costs: number[] = [] // static cost of each instruction
  // cost of the block starting after instruction i (index i+1 → cost), block 0 = entry
  const blockCost: number[] = [0]
  let open = 0 // open labels inside the body
  // Open constructs, for hoisting: the first block of an `if`'s then-arm is charged with the block that
  // holds the `if` and refunded on the path that skips it (the else-arm, or the join when the then-arm
  // never reaches it), so the hot arm of a loop body (`loop { if c { …; br loop } }`) pays no charge.
  // `targeted`: a branch goes to the construct's label (for an `if`: to its end, the join).
  // `leaves`: a branch (or return) inside it goes to a label outside it, so a path through it may skip its end.
  // `exact`: no path leaves the block holding it (nor the blocks that block is joined into) before it starts.
  // `simple`: no loop, call, branch, return or bulk operation inside; `elseFirst`: the else-arm's first block;
  // `hoisted`: what hoisting moved from its then-arm to its parent; `calls`: a call of the module's functions inside;
  // `callFree`: none in the block holding it (and the blocks it is joined into) before it starts.
  const ctl: {
    isIf: boolean, parent: number, thenFirst: number, hasElse: boolean, targeted: boolean, leaves: boolean, exact: boolean, loopAt: number,
    simple: boolean, elseFirst: number, hoisted: number, calls: boolean, callFree: boolean
  }[] = []
  const loopEnd = new Map<number, number>() // a loop's instruction index → the index of its `end`
  let lastUncond = false
  let nextInit = 0
  const hoistedInto = new Map<number, number>() // a then-arm's first block → the block that pays it
  const refundOf = new Map<number, number>() // … → the block that refunds it
  const callBlock: number[] = [] // per direct call (call, return_call) in order: the block holding it
  const branch = (d: number): void => { // a branch to the label d constructs out
    exit(ctl.length - 1 - d)
    const c = ctl[ctl.length - 1 - d]
    if (c !== undefined) c.targeted = true
    for (let k = 0; k < d && k < ctl.length; k++) ctl[ctl.length - 1 - k].leaves = true
  }
  // The block after a construct that no branch leaves early (every path into it that does not trap reaches
  // its end) is charged with the block holding the construct, when no path leaves that block before the
  // construct: joinedInto maps it to that block. So every path that pays the charge runs the code it pays for.
  const joinedInto = new Map<number, number>()
  // per block: the outermost construct (index in ctl; -1: the function) that a branch or return in it goes to
  const exits: number[] = []
  const exit = (t: number): void => { const b = blockCost.length - 1; exits[b] = Math.min(exits[b] ?? ctl.length, t) }
  // per block: 1 when it (or a construct it holds) calls a function of the module
  const calls: number[] = []
  const callFree = (): boolean => {
    for (let b: number | undefined = blockCost.length - 1; b !== undefined; b = joinedInto.get(b)) if (calls[b] === 1) return false
    return true
  }
  /** No branch from the current block, or the blocks it is joined into, goes past a construct opened now. */
  const exact = (): boolean => {
    for (let b: number | undefined = blockCost.length - 1; b !== undefined; b = joinedInto.get(b)) if ((exits[b] ?? ctl.length) < ctl.length) return false
    return true
  }
  let joinNext = -1
  /** The block that pays block b's charge. */
  const home = (b: number): number => { for (let into = joinedInto.get(b); into !== undefined; into = joinedInto.get(b)) b = into; return b }
  const flush = (): void => { // the current block's cost so far goes to the block that pays it
    const b = blockCost.length - 1
    const h = home(b)
    if (h !== b) { blockCost[h] += blockCost[b]; blockCost[b] = 0 }
  }
  const hoist = (c: { parent: number, thenFirst: number, hoisted: number, callFree: boolean }): void => {
    // a credit (a for-loop's refund paid at its entry) is hoisted only over code without calls of the module's
    // functions, like the credit itself (see the loop's last block)
    if (blockCost[c.thenFirst] < 0 && !c.callFree) return
    hoistedInto.set(c.thenFirst, c.parent)
    refundOf.set(c.thenFirst, blockCost.length)
    const c1 = blockCost[c.thenFirst]
    blockCost[home(c.parent)] += c1
    blockCost[c.thenFirst] = 0
    c.hoisted = c1
    nextInit = -c1
  }
  /**
   * A simple `if` whose arms cost within SLACK_FUEL of each other (an else-less one: whose then-arm costs at most
   * that) is charged its costlier arm with the block holding it, and its arms charge nothing: returns true. Its
   * arms are then one block each, with what they hold (a nested `if` is simple only when it was settled too).
   */
  const settle = (c: (typeof ctl)[number]): boolean => {
    if (!c.simple) return false
    const last = blockCost.length - 1
    let t = c.hoisted
    let e = c.hasElse ? c.hoisted : 0
    for (let b = c.thenFirst; b <= last; b++) { if (c.hasElse && b >= c.elseFirst) e += blockCost[b]; else t += blockCost[b] }
    if (Math.abs(t - e) > SLACK_FUEL) return false
    blockCost[home(c.parent)] += Math.max(t, e) - c.hoisted
    for (let b = c.thenFirst; b <= last; b++) blockCost[b] = 0
    hoistedInto.delete(c.thenFirst)
    refundOf.delete(c.thenFirst)
    return true
  }
  let hasLoop = false
  let ended = false
  /**
   * The float on top of the stack was just made by an instruction whose bits are the same on every engine
   * and CPU, so it needs no canonicalisation: a load (memory holds no engine-made NaN bits, every float store
   * is canonicalised), a conversion from an integer (never NaN) or a constant that is not a NaN.
   */
  const exactTop = (f64: boolean): boolean => {
    const prev = starts.length - 1
    if (prev < 0) return false
    const p = body[starts[prev]]
    if (f64) {
      if (p === 0x2b || (p >= 0xb7 && p <= 0xba)) return true
      return p === 0x44 && ((body[starts[prev] + 8] & 0x7f) !== 0x7f || (body[starts[prev] + 7] & 0xf0) !== 0xf0) // exponent not all ones
    }
    if (p === 0x2a || (p >= 0xb2 && p <= 0xb5)) return true
    return p === 0x43 && ((body[starts[prev] + 4] & 0x7f) !== 0x7f || (body[starts[prev] + 3] & 0x80) !== 0x80)
  }
  while (!r.done) {
    if (ended) r.fail('bytes after the end of a function body')
    const at = r.pos
    const op = r.u8()
    let kind = K_COPY
    let arg = 0
    let cost = 1
    switch (op) {
      case 0x00: case 0x1a: case 0x1b: case 0xd1: break
      case 0x01: cost = 0; break
      case 0x02: case 0x03: case 0x04: {
        const b = r.bytes[r.pos]
        if (b === 0x40) r.pos++
        else if (b !== undefined && (b & 0xc0) === 0x40) valType(r, 'a block type')
        else {
          const t = r.s33()
          if (t < 0 || t >= nTypes) r.fail(`block type ${t} does not exist`)
        }
        open++
        ctl.push({
          isIf: op === 0x04, parent: blockCost.length - 1, thenFirst: blockCost.length, hasElse: false, targeted: false, leaves: false, exact: exact(),
          loopAt: op === 0x03 ? kinds.length : -1, simple: true, elseFirst: -1, hoisted: 0, calls: false, callFree: callFree()
        })
        if (op === 0x02) { kind = K_BLOCK; cost = 0 } else if (op === 0x03) { kind = K_LOOP; cost = 0; hasLoop = true } else kind = K_LEADER_UNCHECKED
        break
      }
      case 0x05: {
        kind = K_LEADER_UNCHECKED
        cost = 0
        flush()
        const c = ctl[ctl.length - 1]
        if (c === undefined || !c.isIf || c.hasElse) r.fail('else without if')
        c.hasElse = true
        c.elseFirst = blockCost.length
        hoist(c)
        break
      }
      case 0x0b:
        cost = 0
        flush()
        if (open === 0) { kind = K_FINAL_END; ended = true } else {
          open--
          kind = K_LEADER_UNCHECKED
          const c = ctl.pop()!
          if (c.loopAt >= 0) loopEnd.set(c.loopAt, kinds.length)
          if (c.calls) calls[home(c.parent)] = 1
          // an else-less then-arm that never falls through and that no branch takes to the join (there, the
          // refund would be paid on the then path too, making the arm free)
          const settled = c.isIf && settle(c)
          if (c.isIf && !settled) for (const o of ctl) o.simple = false // an if around it charges its arms as they are
          if (c.isIf && !c.hasElse && !settled && lastUncond && !c.targeted) hoist(c)
          if (!c.leaves && c.exact) {
            joinNext = c.parent
            // A loop's last block (the one running into its end, no branch in it, not its head) runs once each
            // time the loop is left, which is once each time it is entered: it is charged with the loop's entry.
            // For a for-loop that is the refund of its hoisted body on the exit path, credited at entry; only when
            // no call of the module's functions runs between that charge and the loop, so the credit is never
            // outstanding across a call (a recursion would pile one up per level before any loop head pays it).
            const b = blockCost.length - 1
            if (c.loopAt >= 0 && c.callFree && b !== c.thenFirst && !joinedInto.has(b) && exits[b] === undefined) { joinedInto.set(b, c.parent); flush() }
          }
        }
        break
      case 0x0c: case 0x0d: branch(r.u32()); break
      case 0x0e: {
        const n = r.count(1)
        for (let i = 0; i <= n; i++) branch(r.u32())
        break
      }
      case 0x0f: kind = K_RETURN; exit(-1); for (const c of ctl) c.leaves = true; break
      case 0x10: case 0x12: {
        arg = r.u32()
        if (arg >= nFuncs) r.fail(`call to function ${arg}, which does not exist`)
        kind = op === 0x10 ? K_CALL : K_RETURN_CALL
        if (op === 0x12) { exit(-1); for (const c of ctl) c.leaves = true }
        break
      }
      case 0x11: case 0x13: {
        const t = r.u32()
        if (t >= nTypes) r.fail(`call_indirect names type ${t}, which does not exist`)
        r.u32()
        kind = op === 0x13 ? K_RETURN_CALL_INDIRECT : K_CALL_INDIRECT
        if (op === 0x13) { exit(-1); for (const c of ctl) c.leaves = true }
        break
      }
      case 0x14: case 0x15: case 0xd3: case 0xd4: case 0xd5: case 0xd6:
        throw new UnsupportedFeatureError('typed-function-references', `module uses opcode 0x${op.toString(16)} (typed function references / GC): not supported by the deterministic VM; build without it`)
      case 0x06: case 0x07: case 0x08: case 0x09: case 0x0a: case 0x18: case 0x19: case 0x1f:
        throw new UnsupportedFeatureError('exceptions', 'module uses exception handling: not supported by the deterministic VM (it would unwind past the depth counter); build without exceptions')
      case 0x1c: {
        const n = r.count(1)
        for (let i = 0; i < n; i++) valType(r, 'select')
        break
      }
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: r.u32(); break
      case 0x3f: case 0x40:
        if (r.u32() !== 0) throw new UnsupportedFeatureError('multi-memory')
        break
      case 0x41: r.skipSigned(32); break
      case 0x42: r.skipSigned(64); break
      case 0x43: r.take(4); break
      case 0x44: r.take(8); break
      case 0xd0: heapType(r); break
      case 0xd2:
        arg = r.u32()
        if (arg >= nFuncs) r.fail(`ref.func ${arg} names no function`)
        kind = K_REF_FUNC
        break
      case 0xfb: throw new UnsupportedFeatureError('gc')
      case 0xfc: {
        const sub = r.u32()
        if (sub <= 7) break
        switch (sub) {
          case 8: r.u32(); if (r.u32() !== 0) throw new UnsupportedFeatureError('multi-memory'); kind = K_BULK; break
          case 9: case 13: case 16: r.u32(); break
          case 10: if (r.u32() !== 0 || r.u32() !== 0) throw new UnsupportedFeatureError('multi-memory'); kind = K_BULK; break
          case 11: if (r.u32() !== 0) throw new UnsupportedFeatureError('multi-memory'); kind = K_BULK; break
          case 12: case 14: r.u32(); r.u32(); kind = K_BULK; break
          case 15: case 17: r.u32(); kind = K_BULK; break
          default: r.fail(`unknown opcode 0xfc ${sub}`)
        }
        break
      }
      case 0xfd: {
        const sub = r.u32()
        if (sub >= 0x100 && sub <= 0x113) throw new NondeterministicFeatureError('relaxed-simd', 'module uses relaxed SIMD, whose results differ by CPU by design: build without it')
        throw new NondeterministicFeatureError('simd', 'module uses SIMD (v128): SIMD float lanes produce NaN bit patterns that differ across engines and CPUs, so the VM refuses SIMD; build without it')
      }
      case 0xfe:
        throw new NondeterministicFeatureError('atomics', 'module uses atomics (threads): thread interleavings are not deterministic; build without threads')
      default:
        if (op >= 0x28 && op <= 0x3e) {
          const align = r.u32()
          if (align & 0x40) throw new UnsupportedFeatureError('multi-memory')
          r.u32()
          if (op === 0x38 && !exactTop(false)) kind = K_SINK_F32
          else if (op === 0x39 && !exactTop(true)) kind = K_SINK_F64
        } else if (op >= 0x45 && op <= 0xc4) {
          if ((op === 0xbc || op === 0x98) && !exactTop(false)) kind = K_SINK_F32
          else if ((op === 0xbd || op === 0xa6) && !exactTop(true)) kind = K_SINK_F64
        } else {
          r.fail(`unknown opcode 0x${op.toString(16)}`)
        }
    }
    if (kind === K_CALL || kind === K_RETURN_CALL) callBlock.push(blockCost.length - 1)
    if ((kind === K_CALL && arg >= ctx.importedFuncs) || kind === K_CALL_INDIRECT) { calls[blockCost.length - 1] = 1; for (const c of ctl) c.calls = true }
    if (kind === K_LOOP || kind === K_CALL || kind === K_CALL_INDIRECT || kind === K_RETURN_CALL || kind === K_RETURN_CALL_INDIRECT ||
      kind === K_RETURN || kind === K_BULK || op === 0x0c || op === 0x0d || op === 0x0e) for (const c of ctl) c.simple = false
    starts.push(at)
    kinds.push(kind)
    args.push(arg)
    costs.push(cost)
    blockCost[blockCost.length - 1] += cost
    if (kind === K_LOOP || kind === K_LEADER_UNCHECKED) {
      flush()
      if (joinNext >= 0) joinedInto.set(blockCost.length, joinNext)
      blockCost.push(nextInit)
      nextInit = 0
      joinNext = -1
    }
    lastUncond = op === 0x0c || op === 0x0e || op === 0x0f || op === 0x00
  }
  if (!ended) r.fail('function body has no end (truncated)')
  starts.push(r.pos)
  const prepaid = countedLoops(body, starts, kinds, costs)
  const fixes = outOfLineStores(body, starts, kinds)

  const callees: number[] = []
  const refs: number[] = []
  let indirect = false
  let bulk = false
  let hostReturns = false
  let tailCalls = false
  const tailCallees: number[] = []
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]
    if (k === K_RETURN_CALL || k === K_RETURN_CALL_INDIRECT) tailCalls = true
    if (k === K_RETURN_CALL) tailCallees.push(args[i])
    if (k === K_CALL || k === K_RETURN_CALL) {
      callees.push(args[i])
      // a host call that can return here (one followed by `unreachable`, like AssemblyScript's abort, cannot)
      if (args[i] < ctx.importedFuncs && (k === K_RETURN_CALL || body[starts[i + 1]] !== 0x00)) hostReturns = true
    } else if (k === K_REF_FUNC) refs.push(args[i])
    else if (k === K_CALL_INDIRECT || k === K_RETURN_CALL_INDIRECT) indirect = true
    else if (k === K_BULK) bulk = true
  }
  const weight = FRAME_BASE_UNITS + type.params.length + locals
  const addCost = (b: number, cost: number): void => { // as if `cost` had been in block b before hoisting
    for (;;) {
      const into = hoistedInto.get(b)
      if (into === undefined) { blockCost[home(b)] += cost; return }
      blockCost[home(refundOf.get(b)!)] -= cost
      b = into
    }
  }
  return {
    weight,
    callees,
    indirect,
    refs,
    hostReturns,
    tailCalls,
    tailCallees,
    paths: calleeCost => hasLoop || bulk || indirect
      ? { most: Infinity, least: 0 }
      : { most: pathCost(body, starts, kinds, args, costs, calleeCost, true), least: pathCost(body, starts, kinds, args, costs, calleeCost, false) },
    makeTransparent: () => { blockCost.fill(0) },
    emit: (units, entryCheck, threaded) => emitBody(units, entryCheck, threaded),
    chargeCallees: entryCost => {
      let c = 0
      for (let i = 0; i < kinds.length; i++) {
        if (kinds[i] === K_CALL || kinds[i] === K_RETURN_CALL) addCost(callBlock[c++], entryCost(args[i]))
      }
    },
    // a credit (a for-loop's refund paid at entry) stays in the function, so no caller holds it across its calls
    takeEntry: () => { const c = blockCost[0]; if (c < 0) return 0; blockCost[0] = 0; return c }
  }

  // pass 2: emit
  function emitBody (units: number, entryCheck: boolean, threaded: boolean): { bytes: Uint8Array, unlikely: number[] } {
  const counted = units > 0
  const w = new Writer(body.length * 2 + 64)
  const unlikely: number[] = [] // offsets in the body of the branches (if, br_if) to hint as unlikely, in order
  // A threaded function's counter is its added last parameter, so its own locals move up by one; the scratch
  // locals after them keep their indices.
  const T64 = threaded ? type.params.length : nLocals
  w.u32(decls.length + (prepaid.size > 0 ? 4 : 3) + (threaded ? 0 : 1))
  for (const d of decls) { w.u32(d.n); w.u8(d.t) }
  if (!threaded) { w.u32(1); w.u8(I64) }
  w.u32(1); w.u8(I32)
  w.u32(1); w.u8(F32)
  w.u32(1); w.u8(F64)
  if (prepaid.size > 0) { w.u32(1); w.u8(I64) } // TRIP

  const F = ctx.fuelGlobal
  const D = ctx.depthGlobal
  // loud[i]: the calls before instruction i that are not quiet (a loop holding one keeps the plain head check)
  const loud = new Int32Array(kinds.length + 1)
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]
    loud[i + 1] = loud[i] + ((k === K_CALL && !ctx.quiet(args[i])) || k === K_CALL_INDIRECT ? 1 : 0)
  }
  // Every function that charges, or calls a threaded function, keeps the fuel counter in a local (T64; a
  // threaded function's is its added parameter, handed back as its added result): a charge is then a register
  // operation, not a load and a store of the global, which would also chain every charge of the run through one
  // memory location. The global is written back where something reads it: before calls other than to threaded
  // functions and prepaid helpers, before ending a slice, and on exit from a function that is not threaded. A
  // run that traps is charged its whole limit (vm.ts), so nothing else needs the global exact.
  const cached = hasLoop || blockCost.some(c => c !== 0) || threaded || callees.some(f => ctx.threaded(f))
  const wrapped = counted || cached
  const writeBack = (): void => { if (cached) { w.u8(0x20); w.u32(T64); w.u8(0x24); w.u32(F) } }
  const reload = (): void => { if (cached) { w.u8(0x23); w.u32(F); w.u8(0x21); w.u32(T64) } }
  const charge = (cost: number, checked: boolean): void => {
    if (!checked && cost === 0) return
    if (cached) { w.u8(0x20); w.u32(T64) } else { w.u8(0x23); w.u32(F) }
    w.u8(0x42); w.sleb(cost) // i64.const cost
    w.u8(0x7d) // i64.sub
    if (!checked) { w.u8(cached ? 0x21 : 0x24); w.u32(cached ? T64 : F); return }
    check()
  }
  const check = (): void => { // the counter minus the charges is on the stack: keep it, end the slice if below 0
    w.u8(0x22); w.u32(T64) // local.tee T64
    if (!cached) { w.u8(0x24); w.u32(F); w.u8(0x20); w.u32(T64) } // global.set F
    w.u8(0x42); w.u8(0) // i64.const 0
    w.u8(0x53) // i64.lt_s
    unlikely.push(w.len); w.u8(0x04); w.u8(0x40) // if
    writeBack()
    w.u8(0x10); w.u32(ctx.sliceEndIdx)
    reload()
    w.u8(0x0b)
  }
  const chargeTop32 = (): void => { // charge the i32 on top of the stack >> BULK_SHIFT, leaving it there
    w.u8(0x22); w.u32(T32)
    if (cached) { w.u8(0x20); w.u32(T64) } else { w.u8(0x23); w.u32(F) }
    w.u8(0x20); w.u32(T32); w.u8(0xad) // i64.extend_i32_u
    w.u8(0x42); w.u8(BULK_SHIFT); w.u8(0x88) // i64.shr_u
    w.u8(0x7d)
    w.u8(cached ? 0x21 : 0x24); w.u32(cached ? T64 : F)
  }
  const depthRelease = (): void => {
    if (!counted) return
    w.u8(0x23); w.u32(D); w.u8(0x41); w.sleb(units); w.u8(0x6a); w.u8(0x24); w.u32(D)
  }
  const canon = (f64: boolean): void => { // NaN on top → the canonical NaN; other values unchanged
    const t = f64 ? TF64 : TF32
    const vt = f64 ? F64 : F32
    w.u8(0x22); w.u32(t); w.u8(0x20); w.u32(t)
    w.u8(f64 ? 0x62 : 0x5c) // fNN.ne: true only for NaN
    unlikely.push(w.len); w.u8(0x04); w.u8(vt)
    if (f64) { w.u8(0x44); w.bytes(CANON_F64_NAN) } else { w.u8(0x43); w.bytes(CANON_F32_NAN) }
    w.u8(0x05); w.u8(0x20); w.u32(t); w.u8(0x0b)
  }

  if (counted) {
    w.u8(0x23); w.u32(D); w.u8(0x41); w.sleb(units); w.u8(0x6b) // depth - units
    w.u8(0x22); w.u32(T32); w.u8(0x24); w.u32(D)
    w.u8(0x20); w.u32(T32); w.u8(0x41); w.u8(0); w.u8(0x48) // < 0
    unlikely.push(w.len); w.u8(0x04); w.u8(0x40); w.u8(0x00); w.u8(0x0b) // if unreachable end
  }
  if (!threaded) reload()
  if (!counted && entryCheck && cached) {
    // a check of its own, not the function's; like every check it writes the counter back only when it ends the slice
    w.u8(0x20); w.u32(T64); w.u8(0x42); w.sleb(blockCost[0]); w.u8(0x7d) // i64.sub
    w.u8(0x22); w.u32(T64) // local.tee T64
    w.u8(0x42); w.u8(0); w.u8(0x53) // i64.lt_s 0
    unlikely.push(w.len); w.u8(0x04); w.u8(0x40)
    writeBack()
    w.u8(0x10); w.u32(ctx.sliceEndIdx)
    reload()
    w.u8(0x0b)
  } else charge(blockCost[0], counted || entryCheck)
  if (wrapped) {
    w.u8(0x02)
    if (type.results.length === 0) w.u8(0x40)
    else if (type.results.length === 1) w.u8(type.results[0])
    else w.sleb(ctx.blockTypeFor(type.results))
  }
  let block = 0
  // The labels open in the emitted code, innermost last: the module's own (L_MODULE, L_RETRY for a loop whose
  // head check leaves it), and ours (L_OURS: the prepaid loop's `if`, the blocks around an L_RETRY loop). A
  // branch of the module's code counts only the module's labels, so it is renumbered while any of ours is open.
  const labels: number[] = []
  // per open L_RETRY loop: its head charge (retry form), and the labels (positions in `labels`) of the blocks
  // around it: $done, $retry, $exhausted (retry form, else -1) and one per store checked out of line
  const wraps: { refund: number, done: number, retry: number, exhausted: number, fixes: Map<number, { pos: number, br: number }> }[] = []
  const depthOf = (pos: number): number => labels.length - 1 - pos
  let ours = 0
  const open = (l: number): void => { labels.push(l); if (l === L_OURS) ours++ }
  const close = (): number => { const l = labels.pop()!; if (l === L_OURS) ours--; return l }
  /** The depth in the emitted code of the module's branch depth `n`. */
  const relabel = (n: number): number => {
    if (ours === 0) return n
    let k = n
    for (let d = labels.length - 1; d >= 0; d--) {
      if (labels[d] === L_OURS) continue
      if (k === 0) return labels.length - 1 - d
      k--
    }
    return labels.length + k // the function's own label (k is 0 in valid code)
  }
  for (let i = 0; i < kinds.length; i++) {
    const loop = prepaid.get(i)
    if (loop === undefined) { emit(i, true); continue }
    // `if (trip <= maxTrips) { charge head × (trip + 1), check; the loop without head charges } else { the loop }`,
    // trip = n - i in i64: when n < i it is negative, so above maxTrips as unsigned, and the plain loop runs
    // its head once, which is the fuel the prepaid form would charge for trip 0
    const operand = (j: number): void => { copy(j) }
    const ext = loop.unsigned ? 0xad : 0xac // i64.extend_i32_u / _s
    operand(loop.bound); w.u8(ext); operand(loop.counter); w.u8(ext); w.u8(0x7d) // n - i
    w.u8(0x22); w.u32(TRIP)
    w.u8(0x42); w.sleb(Math.floor(PREPAY_MAX_FUEL / loop.work)); w.u8(0x58) // i64.le_u
    w.u8(0x04); w.u8(0x40)
    open(L_OURS)
    const head = blockCost[block + 1]
    if (cached) { w.u8(0x20); w.u32(T64) } else { w.u8(0x23); w.u32(F) }
    w.u8(0x20); w.u32(TRIP); w.u8(0x42); w.sleb(head); w.u8(0x7e) // trip × head
    w.u8(0x42); w.sleb(head); w.u8(0x7c) // + head
    w.u8(0x7d)
    check()
    const first = block
    for (let j = i; j <= loop.end; j++) emit(j, j !== i && j !== loop.end)
    w.u8(0x05)
    block = first
    for (let j = i; j <= loop.end; j++) emit(j, j !== loop.end)
    w.u8(0x0b)
    close()
    charge(blockCost[block], false)
    i = loop.end
  }
  return { bytes: w.finish(), unlikely }

  /** Copies instruction j as it is, but for a threaded function's local indices (its own locals move up by one). */
  function copy (j: number): void {
    const op = body[starts[j]]
    if (threaded && op >= 0x20 && op <= 0x22) {
      const x = new Reader(body, starts[j] + 1, starts[j + 1]).u32()
      w.u8(op); w.u32(x >= type.params.length ? x + 1 : x)
    } else w.bytes(body.subarray(starts[j], starts[j + 1]))
  }

  /** Emits instruction i; `charged`: also the charge (and check) of the block it starts, if it is a leader. */
  function emit (i: number, charged: boolean): void {
    const kind = kinds[i]
    const raw = body.subarray(starts[i], starts[i + 1])
    const op = raw[0]
    // A loop's head check ends the slice outside the loop: `block $done (bt) loop $retry block $exhausted
    // loop (bt) [charge; br_if $exhausted when below 0] … end br $done end [__slice_end; refund the head
    // charge] br $retry end unreachable end`. The charges and checks are those of the plain form; the call
    // out of the loop body keeps V8 from spilling the loop's values around it on every iteration. Only loops
    // without parameters (an empty or one-value block type) and without calls of their own (those spill
    // around the calls anyway, and would only pay the wrapping on every entry).
    //
    // A loop holding float stores that outOfLineStores found gets the same `block $done loop $retry` around it,
    // and inside those one block per such store, which its NaN check leaves: `… end br $done end [store the
    // canonical NaN; the tail] br $retry …` (re-entering the loop at its head, as the tail's `br` did).
    const retry = kind === K_LOOP && charged && (raw[1] & 0xc0) === 0x40 && loud[loopEnd.get(i)!] === loud[i]
    const outOfLine = kind === K_LOOP ? fixes.get(i) : undefined
    if (retry || outOfLine !== undefined) {
      w.u8(0x02); w.u8(raw[1]); open(L_OURS)
      const done = labels.length - 1
      w.u8(0x03); w.u8(0x40); open(L_OURS)
      const wrap = { refund: 0, done, retry: labels.length - 1, exhausted: -1, fixes: new Map<number, { pos: number, br: number }>() }
      if (retry) { w.u8(0x02); w.u8(0x40); open(L_OURS); wrap.exhausted = labels.length - 1 }
      for (const f of outOfLine ?? []) { w.u8(0x02); w.u8(0x40); open(L_OURS); wrap.fixes.set(f.store, { pos: labels.length - 1, br: f.br }) }
      wraps.push(wrap)
    }
    const fixAt = (kind === K_SINK_F32 || kind === K_SINK_F64) && wraps.length > 0 ? wraps[wraps.length - 1].fixes.get(i) : undefined
    switch (kind) {
      case K_CALL:
        if (ctx.quiet(args[i])) { w.u8(0x10); w.u32(remap(args[i], ctx)) } else if (ctx.threaded(args[i])) {
          w.u8(0x20); w.u32(T64); w.u8(0x10); w.u32(remap(args[i], ctx)); w.u8(0x21); w.u32(T64)
        } else { writeBack(); w.u8(0x10); w.u32(remap(args[i], ctx)); reload() }
        break
      case K_CALL_INDIRECT: writeBack(); w.bytes(raw); reload(); break
      case K_RETURN_CALL: writeBack(); depthRelease(); w.u8(0x12); w.u32(remap(args[i], ctx)); break
      case K_RETURN_CALL_INDIRECT: writeBack(); depthRelease(); w.bytes(raw); break
      case K_REF_FUNC: w.u8(0xd2); w.u32(remap(args[i], ctx)); break
      case K_RETURN:
        if (wrapped) { w.u8(0x0c); w.u32(labels.length) } else w.bytes(raw)
        break
      case K_SINK_F32: case K_SINK_F64: {
        const f64 = kind === K_SINK_F64
        if (fixAt === undefined) { canon(f64); w.bytes(raw); break }
        const t = f64 ? TF64 : TF32
        w.u8(0x21); w.u32(t); w.u8(0x21); w.u32(T32) // value, address
        w.u8(0x20); w.u32(t); w.u8(0x20); w.u32(t); w.u8(f64 ? 0x62 : 0x5c) // fNN.ne: true only for NaN
        unlikely.push(w.len); w.u8(0x0d); w.u32(depthOf(fixAt.pos))
        w.u8(0x20); w.u32(T32); w.u8(0x20); w.u32(t); w.bytes(raw)
        break
      }
      case K_BULK: chargeTop32(); w.bytes(raw); break
      case K_FINAL_END:
        if (wrapped) { w.u8(0x0b); if (threaded) { depthRelease(); w.u8(0x20); w.u32(T64) } else { writeBack(); depthRelease() } }
        w.u8(0x0b)
        break
      default:
        if (ours > 0 && (op === 0x0c || op === 0x0d)) {
          w.u8(op); w.u32(relabel(new Reader(raw, 1).u32()))
        } else if (ours > 0 && op === 0x0e) {
          const t = new Reader(raw, 1)
          const n = t.u32()
          w.u8(op); w.u32(n)
          for (let x = 0; x <= n; x++) w.u32(relabel(t.u32()))
        } else copy(i)
    }
    if (kind === K_BLOCK || (kind === K_LEADER_UNCHECKED && op === 0x04)) open(L_MODULE)
    else if (kind === K_LOOP) open(retry || outOfLine !== undefined ? L_RETRY : L_MODULE)
    else if (kind === K_LEADER_UNCHECKED && op === 0x0b && close() === L_RETRY) {
      const wrap = wraps.pop()!
      w.u8(0x0c); w.u32(depthOf(wrap.done))
      for (const [store, { br }] of [...wrap.fixes].reverse()) { // innermost block first
        w.u8(0x0b); close() // end of the store's block: its NaN path
        const f64 = kinds[store] === K_SINK_F64
        w.u8(0x20); w.u32(T32)
        if (f64) { w.u8(0x44); w.bytes(CANON_F64_NAN) } else { w.u8(0x43); w.bytes(CANON_F32_NAN) }
        w.bytes(body.subarray(starts[store], starts[store + 1]))
        for (let j = store + 1; j < br; j++) copy(j) // the tail
        w.u8(0x0c); w.u32(depthOf(wrap.retry))
      }
      if (wrap.exhausted >= 0) {
        w.u8(0x0b); close() // end $exhausted
        writeBack()
        w.u8(0x10); w.u32(ctx.sliceEndIdx)
        reload()
        if (wrap.refund !== 0) { w.u8(0x20); w.u32(T64); w.u8(0x42); w.sleb(wrap.refund); w.u8(0x7c); w.u8(0x21); w.u32(T64) }
        w.u8(0x0c); w.u8(0) // br $retry
      }
      w.u8(0x0b); close() // end $retry
      w.u8(0x00)
      w.u8(0x0b); close() // end $done
    }
    if (kind === K_LOOP || kind === K_LEADER_UNCHECKED) {
      block++
      if (retry) {
        const cost = blockCost[block]
        const wrap = wraps[wraps.length - 1]
        wrap.refund = cost
        w.u8(0x20); w.u32(T64)
        w.u8(0x42); w.sleb(cost)
        w.u8(0x7d)
        w.u8(0x22); w.u32(T64) // local.tee T64
        w.u8(0x42); w.u8(0)
        w.u8(0x53) // i64.lt_s
        unlikely.push(w.len); w.u8(0x0d); w.u32(depthOf(wrap.exhausted))
      } else if (charged) charge(blockCost[block], kind === K_LOOP)
    }
  }
  }
}

function remap (f: number, ctx: Ctx): number {
  return f < ctx.importedFuncs ? f : f + 1
}
