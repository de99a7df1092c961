// The run-time half of the WebDeterministicVM: loads (validates, refuses,
// instruments, compiles) a task module, executes it against the task ABI's
// host functions under a fuel limit, and commits to the outcome. The run is
// synchronous (it is meant for a worker thread); only hashing is async.
// Nothing here reads a clock or a random source: the process profile's
// clock and sleep come from the caller's `processHost`.
import { cidOf, encode } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { DEPTH_EXPORT, FUEL_EXPORT, type Profile, SLICE_END_NAME, START_EXPORT } from './abi.ts'
import { InvalidModuleError, InvalidOptionsError, ModuleTooLargeError, StackExhaustedError } from './errors.ts'
import { DEFAULT_MEMORY_LIMIT_BYTES, instrument, type ModuleInfo, PAGE_BYTES, STACK_BUDGET_UNITS } from './instrument.ts'
import { ChaCha20Stream } from './prng.ts'

/** Version of the commitment layout and of the VM's semantics (cost model, where fuel is checked, depth budget, NaN rule). */
export const VM_VERSION = 7
/** Default size limit of a module's bytes: 8 MiB. */
export const DEFAULT_MAX_MODULE_BYTES = 8 * 1024 * 1024
/** Default fuel per slice between `onSlice` calls. */
export const DEFAULT_SLICE_FUEL = 10_000_000
/** Default output cap: 1 MiB. */
export const DEFAULT_OUTPUT_LIMIT_BYTES = 1024 * 1024
/** Default log cap: 64 KiB (the excess is dropped and counted). */
export const DEFAULT_LOG_LIMIT_BYTES = 64 * 1024
/** Host functions charge 1 fuel per 2^HOST_BYTES_SHIFT bytes they move, on top of the call's cost. */
export const HOST_BYTES_SHIFT = 4
/** Abort messages are cut to this many UTF-16 code units. */
const MAX_ABORT_CHARS = 1024
const TASK_SEED_DOMAIN = 'webfabric/task-seed/v1'

/** Options of `loadModule`. */
export interface LoadInit {
  profile: Profile
  /** memory cap in bytes; memory.grow past it returns -1 (default 256 MiB) */
  memoryLimitBytes?: number
  /** refuse modules larger than this (default 8 MiB) */
  maxModuleBytes?: number
}

/** A module that passed the profile's checks, instrumented and compiled. */
export interface LoadedModule {
  /** CIDv1 (raw codec, sha2-256) of the original bytes */
  cid: CID
  /** the original bytes */
  bytes: Uint8Array
  /** the instrumented module, compiled */
  module: WebAssembly.Module
  /** the instrumented bytes (to post to a worker, or to inspect) */
  instrumentedBytes: Uint8Array
  profile: Profile
  memoryLimitBytes: number
  info: ModuleInfo
}

/** What `onSlice` is told at the end of each fuel slice. */
export interface SliceInfo {
  /** fuel used so far */
  fuelUsed: number
  fuelLimit: number
}

/** The caller's implementation of the process profile's extra imports. */
export interface ProcessHost {
  /** wall-clock milliseconds (wf.now_ms) */
  now_ms: () => number
  /** block the worker for `ms` milliseconds (Atomics.wait), bounded by the lease (wf.sleep_ms) */
  sleep_ms: (ms: number) => void
  /** wf.publish: publish `data` on `topic`; 0, or -1 (no capability) / -2 (too large) */
  publish: (topic: string, data: Uint8Array) => number
}

/** Options of `execute`. */
export interface ExecuteInit {
  input: Uint8Array
  /** fuel the run may use (a safe integer ≥ 0) */
  fuelLimit: number
  /** 32-byte PRNG seed; default: the task seed of ABI.md */
  seed?: Uint8Array
  /** fuel per slice between `onSlice` calls (default 10M); does not change the result */
  sliceFuel?: number
  /** called synchronously at the end of every slice; may block, or throw to abort the run (the error propagates out of execute unchanged) */
  onSlice?: (slice: SliceInfo) => void
  outputLimitBytes?: number
  logLimitBytes?: number
  /** called with each chunk written to the output (a copy) */
  onOutput?: (chunk: Uint8Array) => void
  /** called with each log line kept */
  onLog?: (text: string) => void
  /** required for modules loaded with profile 'process' that import now_ms, sleep_ms or publish */
  processHost?: ProcessHost
}

/** How an execution ended; every status is a deterministic result. */
export type ExecutionStatus = 'ok' | 'trap' | 'abort' | 'out-of-fuel' | 'output-limit'

/** The fixed set of trap kinds (engines' own trap texts never reach the commitment). */
export type TrapKind =
  | 'unreachable' | 'memory-out-of-bounds' | 'divide-by-zero' | 'integer-overflow' | 'invalid-conversion'
  | 'indirect-call-mismatch' | 'table-out-of-bounds' | 'segment-out-of-bounds' | 'null-reference'
  | 'stack-overflow' | 'unknown'

/** The result of one execution. */
export interface Execution {
  status: ExecutionStatus
  /** trap kind when status is 'trap' */
  trapKind?: TrapKind
  /** what happened, for people (the abort text for 'abort') */
  message?: string
  output: Uint8Array
  /** fuel used (the limit when status is 'out-of-fuel', 'trap' or 'abort') */
  fuel: number
  logs: string[]
  /** log bytes dropped past logLimitBytes */
  logsDropped: number
  moduleCid: CID
  inputCid: CID
  outputCid: CID
  /** CID (dag-cbor, sha2-256) of the commitment record; see commitmentRecord */
  commitment: CID
}

/** The commitment record whose CID is Execution.commitment (README "Trace commitment"). */
export interface CommitmentRecord {
  v: number
  module: CID
  input: CID
  output: CID
  fuel: number
  status: ExecutionStatus
  /** trap kind for 'trap', abort text for 'abort', null otherwise */
  reason: string | null
  /** sha2-256 of DAG-CBOR { d: dropped byte count, e: [log entry bytes…] } */
  logs: Uint8Array
}

/** CIDv1, raw codec, sha2-256, of `bytes` (module, input and output CIDs). */
export async function rawCid (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/** The default task seed: sha256("webfabric/task-seed/v1" || moduleCid bytes || inputCid bytes). */
export async function taskSeed (moduleCid: CID, inputCid: CID): Promise<Uint8Array> {
  const d = new TextEncoder().encode(TASK_SEED_DOMAIN)
  const buf = new Uint8Array(d.length + moduleCid.bytes.length + inputCid.bytes.length)
  buf.set(d, 0)
  buf.set(moduleCid.bytes, d.length)
  buf.set(inputCid.bytes, d.length + moduleCid.bytes.length)
  return (await sha256.digest(buf)).digest
}

function safeInt (v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new InvalidOptionsError(`${what} must be a safe integer >= ${min}, not ${String(v)}`)
  return v
}

/**
 * Checks `bytes` against the profile (named errors, see errors.ts), instruments and compiles it.
 * Refusals happen here, before anything runs.
 */
export async function loadModule (bytes: Uint8Array, init: LoadInit): Promise<LoadedModule> {
  if (init.profile !== 'task' && init.profile !== 'process') throw new InvalidOptionsError(`profile must be 'task' or 'process', not ${String(init.profile)}`)
  const maxBytes = safeInt(init.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES, 'maxModuleBytes', 8)
  const memoryLimitBytes = safeInt(init.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES, 'memoryLimitBytes', 0)
  if (memoryLimitBytes > 65536 * PAGE_BYTES) throw new InvalidOptionsError('memoryLimitBytes must be at most 4 GiB')
  if (!(bytes instanceof Uint8Array)) throw new InvalidModuleError('module must be a Uint8Array of WebAssembly bytes')
  if (bytes.length > maxBytes) throw new ModuleTooLargeError(`module is ${bytes.length} bytes, over the limit of ${maxBytes}: build it smaller (asc -O3 --noAssert) or raise maxModuleBytes`)
  const { bytes: instrumentedBytes, info } = instrument(bytes, { profile: init.profile, memoryLimitBytes })
  // The instrumenter checks structure; the engine checks types. Validate the original so nothing it would refuse is "repaired".
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) throw new InvalidModuleError('module does not validate (a type error, or a feature this engine lacks): rebuild it with a WebAssembly 1.0 toolchain')
  let module: WebAssembly.Module
  try {
    module = await WebAssembly.compile(instrumentedBytes as Uint8Array<ArrayBuffer>)
  } catch (err) {
    throw new InvalidModuleError(`the instrumented module does not compile (a VM bug; please report it with the module): ${(err as Error).message}`, { cause: err })
  }
  return { cid: await rawCid(bytes), bytes, module, instrumentedBytes, profile: init.profile, memoryLimitBytes, info }
}

/** Thrown inside the run by host functions to end it with a deterministic status. */
class Stop {
  readonly status: ExecutionStatus
  readonly trapKind: TrapKind | undefined
  readonly message: string
  constructor (status: ExecutionStatus, message: string, trapKind?: TrapKind) {
    this.status = status
    this.message = message
    this.trapKind = trapKind
  }
}

interface RunResult {
  status: ExecutionStatus
  trapKind?: TrapKind
  message?: string
  output: Uint8Array
  fuel: number
  logEntries: Uint8Array[]
  logsDropped: number
}

/** Runs `mod` on `init.input`; the result's status, output, fuel and commitment are deterministic. */
export async function execute (mod: LoadedModule, init: ExecuteInit): Promise<Execution> {
  const inputCid = await rawCid(init.input)
  const seed = init.seed ?? await taskSeed(mod.cid, inputCid)
  const r = runSync(mod, init, seed)
  const outputCid = await rawCid(r.output)
  const record: CommitmentRecord = {
    v: VM_VERSION,
    module: mod.cid,
    input: inputCid,
    output: outputCid,
    fuel: r.fuel,
    status: r.status,
    reason: r.status === 'trap' ? r.trapKind ?? 'unknown' : r.status === 'abort' ? r.message ?? '' : null,
    logs: (await sha256.digest(encode({ d: r.logsDropped, e: r.logEntries }))).digest
  }
  const commitment = await cidOf(encode(record))
  const text = new TextDecoder()
  const out: Execution = {
    status: r.status,
    output: r.output,
    fuel: r.fuel,
    logs: r.logEntries.map(e => text.decode(e)),
    logsDropped: r.logsDropped,
    moduleCid: mod.cid,
    inputCid,
    outputCid,
    commitment
  }
  if (r.trapKind !== undefined) out.trapKind = r.trapKind
  if (r.message !== undefined) out.message = r.message
  return out
}

/** Options of `replay`: how the claimed execution was loaded and run. */
export interface ReplayInit extends LoadInit, Omit<ExecuteInit, 'input'> {}

/** Result of `replay`. */
export interface ReplayResult {
  /** true when the re-execution's commitment equals the claimed one */
  matches: boolean
  execution: Execution
}

/** Re-executes `moduleBytes` on `input` and says whether the claimed commitment matches. */
export async function replay (moduleBytes: Uint8Array, input: Uint8Array, claimed: CID | string, init: ReplayInit): Promise<ReplayResult> {
  const mod = await loadModule(moduleBytes, init)
  const execution = await execute(mod, { ...init, input })
  return { matches: execution.commitment.toString() === claimed.toString(), execution }
}

function runSync (mod: LoadedModule, init: ExecuteInit, seed: Uint8Array): RunResult {
  const limit = safeInt(init.fuelLimit, 'fuelLimit', 0)
  const sliceFuel = safeInt(init.sliceFuel ?? DEFAULT_SLICE_FUEL, 'sliceFuel', 1)
  const outputLimit = safeInt(init.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT_BYTES, 'outputLimitBytes', 0)
  const logLimit = safeInt(init.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES, 'logLimitBytes', 0)
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new InvalidOptionsError('seed must be 32 bytes')
  const input = init.input
  const prng = new ChaCha20Stream(seed)

  let memory: WebAssembly.Memory | null = null
  let fuelG: WebAssembly.Global | null = null
  let depthG: WebAssembly.Global | null = null
  let accounted = 0
  let sliceBudget = 0
  const chunks: Uint8Array[] = []
  let outputLen = 0
  const logEntries: Uint8Array[] = []
  let logBytes = 0
  let logsDropped = 0

  const used = (): number => fuelG === null ? accounted : accounted + sliceBudget - Number(fuelG.value as bigint)

  const sliceEnd = (): void => {
    const total = used()
    if (total > limit) throw new Stop('out-of-fuel', `used all ${limit} fuel`)
    accounted = total
    init.onSlice?.({ fuelUsed: total, fuelLimit: limit })
    sliceBudget = Math.min(sliceFuel, limit - total)
    fuelG!.value = BigInt(sliceBudget)
  }
  /** Charges a host call `cost` fuel before its effect, ending the slice (or the run) when it runs out. */
  const charge = (cost: number): void => {
    const g = Number(fuelG!.value as bigint) - cost
    fuelG!.value = BigInt(g)
    if (g < 0) sliceEnd()
  }
  const view = (ptr: number, len: number): Uint8Array<ArrayBuffer> => {
    const buf = memory!.buffer as ArrayBuffer
    if (ptr + len > buf.byteLength) throw new Stop('trap', 'trap: memory access out of bounds (in a host call)', 'memory-out-of-bounds')
    return new Uint8Array(buf, ptr, len)
  }
  const readString = (ptr: number): string => {
    if (ptr === 0) return ''
    const buf = memory!.buffer as ArrayBuffer
    if (ptr < 4 || ptr > buf.byteLength) return ''
    const byteLen = new DataView(buf).getUint32(ptr - 4, true)
    const n = Math.min(byteLen >>> 1, MAX_ABORT_CHARS, (buf.byteLength - ptr) >>> 1)
    const u16 = new Uint8Array(buf, ptr, n * 2)
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCharCode(u16[2 * i] | (u16[2 * i + 1] << 8))
    return s
  }

  const wf: Record<string, unknown> = {
    [SLICE_END_NAME]: sliceEnd,
    input_size: (): number => { charge(0); return input.length },
    input_read: (dst: number, offset: number, len: number): number => {
      dst >>>= 0; offset >>>= 0; len >>>= 0
      const n = offset >= input.length ? 0 : Math.min(len, input.length - offset)
      charge(n >>> HOST_BYTES_SHIFT)
      view(dst, n).set(input.subarray(offset, offset + n))
      return n
    },
    output_write: (src: number, len: number): void => {
      src >>>= 0; len >>>= 0
      charge(len >>> HOST_BYTES_SHIFT)
      const bytes = view(src, len)
      if (outputLen + len > outputLimit) throw new Stop('output-limit', `output passed its limit of ${outputLimit} bytes`)
      const copy = bytes.slice()
      chunks.push(copy)
      outputLen += len
      init.onOutput?.(copy)
    },
    random_fill: (dst: number, len: number): void => {
      dst >>>= 0; len >>>= 0
      charge(len >>> HOST_BYTES_SHIFT)
      prng.fill(view(dst, len))
    },
    log: (src: number, len: number): void => {
      src >>>= 0; len >>>= 0
      charge(len >>> HOST_BYTES_SHIFT)
      const bytes = view(src, len)
      if (logBytes + len > logLimit) { logsDropped += len; return }
      const copy = bytes.slice()
      logEntries.push(copy)
      logBytes += len
      init.onLog?.(new TextDecoder().decode(copy))
    }
  }
  if (mod.profile === 'process') {
    const host = (): ProcessHost => {
      if (init.processHost === undefined) throw new InvalidOptionsError('this process module imports now_ms, sleep_ms or publish: pass processHost to execute')
      return init.processHost
    }
    wf.now_ms = (): number => { charge(0); return host().now_ms() }
    wf.sleep_ms = (ms: number): void => { charge(0); host().sleep_ms(ms >>> 0) }
    wf.publish = (topic: number, topicLen: number, data: number, dataLen: number): number => {
      charge((topicLen >>> 0) + (dataLen >>> 0) >>> HOST_BYTES_SHIFT)
      const t = new TextDecoder().decode(view(topic >>> 0, topicLen >>> 0))
      return host().publish(t, view(data >>> 0, dataLen >>> 0).slice())
    }
  }
  const env = {
    abort: (msg: number, file: number, line: number, col: number): void => {
      const m = readString(msg >>> 0)
      const f = readString(file >>> 0)
      throw new Stop('abort', f === '' ? m : `${m} (${f}:${line >>> 0}:${col >>> 0})`)
    }
  }

  let status: ExecutionStatus = 'ok'
  let trapKind: TrapKind | undefined
  let message: string | undefined
  try {
    const instance = new WebAssembly.Instance(mod.module, { wf, env } as WebAssembly.Imports)
    const ex = instance.exports
    memory = ex.memory as WebAssembly.Memory
    fuelG = ex[FUEL_EXPORT] as WebAssembly.Global
    depthG = ex[DEPTH_EXPORT] as WebAssembly.Global
    sliceBudget = Math.min(sliceFuel, limit)
    fuelG.value = BigInt(sliceBudget)
    const start = ex[START_EXPORT] as (() => void) | undefined
    if (start !== undefined) start()
    ;(ex.run as () => void)()
  } catch (err) {
    if (err instanceof Stop) {
      status = err.status
      trapKind = err.trapKind
      message = err.message
    } else if (err instanceof WebAssembly.RuntimeError) {
      status = 'trap'
      if (depthG !== null && (depthG.value as number) < 0) {
        trapKind = 'stack-overflow'
        message = `trap: call stack exceeded the deterministic depth budget of ${STACK_BUDGET_UNITS} units`
      } else {
        trapKind = trapKindOf(err.message)
        message = `trap: ${trapKind}`
      }
    } else if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new StackExhaustedError(undefined, { cause: err })
    } else {
      throw err
    }
  }
  // A run that traps or aborts is charged its whole limit: the counter is exact only where something reads it
  // (checks that end a slice, host calls, exits to the host), not at every instruction that may trap.
  let fuel = status === 'trap' || status === 'abort' ? limit : used()
  if (fuel > limit) {
    status = 'out-of-fuel'
    trapKind = undefined
    message = `used all ${limit} fuel`
    fuel = limit
  }
  const output = new Uint8Array(outputLen)
  let at = 0
  for (const c of chunks) { output.set(c, at); at += c.length }
  const r: RunResult = { status, output, fuel, logEntries, logsDropped }
  if (trapKind !== undefined) r.trapKind = trapKind
  if (message !== undefined) r.message = message
  return r
}

/** Maps an engine's trap text to the fixed set of trap kinds. */
export function trapKindOf (text: string): TrapKind {
  const t = text.toLowerCase()
  if (t.includes('unreachable')) return 'unreachable'
  if (t.includes('memory access out of bounds') || t.includes('out of bounds memory')) return 'memory-out-of-bounds'
  if (t.includes('by zero')) return 'divide-by-zero'
  if (t.includes('integer overflow') || t.includes('unrepresentable') && t.includes('divi')) return 'integer-overflow'
  if (t.includes('float unrepresentable') || t.includes('invalid conversion')) return 'invalid-conversion'
  if (t.includes('signature mismatch') || t.includes('indirect call')) return 'indirect-call-mismatch'
  if (t.includes('segment')) return 'segment-out-of-bounds'
  if (t.includes('table')) return 'table-out-of-bounds'
  if (t.includes('null')) return 'null-reference'
  return 'unknown'
}
