// Frames of the compute protocol (/webfabric/compute/1.0.0). A coordinator
// keeps one long-lived stream per worker; it sends `run` frames, or `runs`
// frames carrying several assignments of one job (the first frame carries its
// capability), and `accept` frames (countersigned receipts); the worker
// answers each assignment with a result, `need-module` or `error`, in any
// order — the results of one `runs` frame together in a `results` frame, their
// receipts signed as one batch. Every frame is DAG-CBOR, size-limited, and
// shape-checked here before anything else looks at it.
import { MalformedError, decode, encode } from '@webfabric/protocol'
import { frameChecks } from './frame-check.ts'

/** The compute protocol id. */
export const COMPUTE_PROTOCOL = '/webfabric/compute/1.0.0'
/** Largest module a task may name. */
export const MAX_MODULE_BYTES = 8 * 1024 * 1024
/** Largest task input carried inline. */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024
/** Largest task output carried back inline; a larger one travels through the fabric's storage. */
export const MAX_OUTPUT_BYTES = 8 * 1024 * 1024
/**
 * Largest task input or output moved through the fabric's storage instead of inline (a frame then
 * carries its read capability).
 */
export const MAX_STORED_BYTES = 256 * 1024 * 1024
/** The output limit of every execution: part of the task, the same on every worker (Node or tab). */
export const TASK_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024
/** Longest storage read capability a frame carries. */
export const MAX_CAP_CHARS = 512
/** Largest compute frame: a module and an input (or an output) plus framing. */
export const MAX_COMPUTE_FRAME = MAX_MODULE_BYTES + MAX_INPUT_BYTES + 64 * 1024
/** Most assignments one `runs` frame carries. */
export const MAX_RUNS_PER_FRAME = 256
/** Most results one `results` frame carries. */
export const MAX_RESULTS_PER_FRAME = 64
/**
 * What a `results` frame's entries may add up to, by resultBytes(): a worker starts another frame
 * beyond it (one result alone always fits), so no frame exceeds MAX_WORKER_FRAME.
 */
export const MAX_RESULTS_BYTES = MAX_OUTPUT_BYTES + 32 * 1024
/** Largest frame a coordinator reads from a worker. */
export const MAX_WORKER_FRAME = MAX_OUTPUT_BYTES + 64 * 1024
/**
 * Most assignments per sandbox domain a coordinator keeps in flight at a worker (short tasks;
 * compute-pipeline.ts). A worker queues at least that many per domain before it answers busy.
 */
export const MAX_PIPELINE = 8
/** Largest memory cap a task may ask for (wasm32's 4 GiB). */
export const MAX_MEMORY_BYTES = 4 * 1024 * 1024 * 1024
/** Memory cap of a task that names none (the VM's default). */
export const DEFAULT_TASK_MEMORY_BYTES = 256 * 1024 * 1024
/** Most fuel any single task may ask for. */
export const MAX_FUEL = 2 ** 50

/** What the coordinator's capability must grant (issued by the origin). */
export const COMPUTE_ASSIGN_NEED = { resource: 'fabric/compute', ability: 'compute/assign' }

/** coordinator → worker: run a task. */
export interface RunFrame {
  k: 'run'
  /** the coordinator's capability (first frame of a stream only) */
  c?: Uint8Array
  /** assignment id (unique per coordinator), job id, task id */
  a: string
  j: string
  t: string
  /** module CID, and its bytes when the coordinator thinks the worker lacks them */
  m: string
  mb?: Uint8Array
  /** input bytes (empty when `ir` names them) */
  i: Uint8Array
  /** a large input: its storage read capability, and the CID its plaintext must hash to */
  ir?: string
  ic?: string
  /** fuel limit */
  f: number
  /** PRNG seed (default: derived from module and input) */
  s?: Uint8Array
  /** memory cap of the execution in bytes: part of the task, so every replica runs under the same one */
  mem?: number
}

/**
 * coordinator → worker: run several tasks of one job (one module, fuel limit and memory cap).
 * The worker answers each with its own frame, and signs the receipts of the batch together.
 */
export interface RunsFrame {
  k: 'runs'
  /** the coordinator's capability (first frame of a stream only) */
  c?: Uint8Array
  j: string
  /** module CID (a worker that lacks its bytes answers need-module per assignment) */
  m: string
  f: number
  mem?: number
  /** the assignments: assignment id, task id, input bytes (or a large input's read capability and CID), PRNG seed (default: derived) */
  r: Array<{ a: string, t: string, i: Uint8Array, ir?: string, ic?: string, s?: Uint8Array }>
}

/** coordinator → worker: the assignment is no longer needed; stop it (at its next fuel slice) if it runs. */
export interface CancelFrame { k: 'cancel', c?: Uint8Array, a: string }

/** coordinator → worker: a countersignature over a batch of the worker's receipts (encoded Acceptance). */
export interface AcceptFrame { k: 'accept', c?: Uint8Array, ac: Uint8Array }

/** worker → coordinator: an execution's result and the worker's signed receipt (one result; see ResultsFrame). */
export interface ResultFrame {
  k: 'result'
  a: string
  /** status, fuel, commitment and CIDs (the output travels in `o`) */
  st: string
  msg?: string
  fuel: number
  cm: string
  oc: string
  /** the output (empty when `or` names it) */
  o: Uint8Array
  /** a large output: its storage read capability (its plaintext hashes to `oc`, which the coordinator checks) */
  or?: string
  /** encoded Receipt */
  rc: Uint8Array
  ms: number
}

/** One result in a results frame: a result frame's fields but its kind. */
export type ResultEntry = Omit<ResultFrame, 'k'>

/**
 * worker → coordinator: several results at once (those answered together, their receipts usually one
 * batch): one frame to write, read and decode instead of one per result.
 */
export interface ResultsFrame { k: 'results', r: ResultEntry[] }

/** worker → coordinator: send the module bytes (it is not cached here). */
export interface NeedModuleFrame { k: 'need-module', a: string, m: string }

/** worker → coordinator: this assignment failed for a reason that is not a result (busy, no lease, crash, watchdog). */
export interface ErrorFrame { k: 'error', a: string, name: string, message: string }

export type CoordinatorFrame = RunFrame | RunsFrame | AcceptFrame | CancelFrame
export type WorkerFrame = ResultFrame | ResultsFrame | NeedModuleFrame | ErrorFrame

const MAX_ID = 128
const MAX_TEXT = 1024

const { str, bytes, int, map } = frameChecks('compute', MAX_ID)

/** Decode and shape-check a frame a worker received; throws MalformedError. */
export function decodeCoordinatorFrame (data: Uint8Array): CoordinatorFrame {
  // frames are never hashed or signed as they are: skip the canonical re-encode
  const x = decode(data, { maxBytes: MAX_COMPUTE_FRAME, canonical: false }) as { k?: unknown }
  if (x?.k === 'run') {
    const f = map(x, ['k', 'c', 'a', 'j', 't', 'm', 'mb', 'i', 'ir', 'ic', 'f', 's', 'mem'])
    const run: RunFrame = { k: 'run', a: str(f.a, 'a'), j: str(f.j, 'j'), t: str(f.t, 't'), m: str(f.m, 'm'), i: bytes(f.i, 'i', MAX_INPUT_BYTES), f: int(f.f, 'f', MAX_FUEL) }
    storedInput(run, f, '')
    if (f.c !== undefined) run.c = bytes(f.c, 'c', 16 * 1024)
    if (f.mb !== undefined) run.mb = bytes(f.mb, 'mb', MAX_MODULE_BYTES)
    if (f.s !== undefined) run.s = bytes(f.s, 's', 64)
    if (f.mem !== undefined) run.mem = int(f.mem, 'mem', MAX_MEMORY_BYTES)
    return run
  }
  if (x?.k === 'runs') {
    const f = map(x, ['k', 'c', 'j', 'm', 'f', 'mem', 'r'])
    if (!Array.isArray(f.r) || f.r.length === 0 || f.r.length > MAX_RUNS_PER_FRAME) throw new MalformedError(`compute frame field r must list 1..${MAX_RUNS_PER_FRAME} assignments`, { field: 'r' })
    const runs: RunsFrame = {
      k: 'runs',
      j: str(f.j, 'j'),
      m: str(f.m, 'm'),
      f: int(f.f, 'f', MAX_FUEL),
      r: (f.r as unknown[]).map(e => {
        const g = map(e, ['a', 't', 'i', 'ir', 'ic', 's'])
        const run: RunsFrame['r'][number] = { a: str(g.a, 'r.a'), t: str(g.t, 'r.t'), i: bytes(g.i, 'r.i', MAX_INPUT_BYTES) }
        storedInput(run, g, 'r.')
        if (g.s !== undefined) run.s = bytes(g.s, 'r.s', 64)
        return run
      })
    }
    if (new Set(runs.r.map(e => e.a)).size !== runs.r.length) throw new MalformedError('compute frame field r names an assignment twice', { field: 'r' })
    if (f.c !== undefined) runs.c = bytes(f.c, 'c', 16 * 1024)
    if (f.mem !== undefined) runs.mem = int(f.mem, 'mem', MAX_MEMORY_BYTES)
    return runs
  }
  if (x?.k === 'cancel') {
    const f = map(x, ['k', 'c', 'a'])
    const cancel: CancelFrame = { k: 'cancel', a: str(f.a, 'a') }
    if (f.c !== undefined) cancel.c = bytes(f.c, 'c', 16 * 1024)
    return cancel
  }
  if (x?.k === 'accept') {
    const f = map(x, ['k', 'c', 'ac'])
    const acc: AcceptFrame = { k: 'accept', ac: bytes(f.ac, 'ac', 64 * 1024) }
    if (f.c !== undefined) acc.c = bytes(f.c, 'c', 16 * 1024)
    return acc
  }
  throw new MalformedError('a compute frame to a worker is a run, runs, a cancel or an accept', { field: 'k' })
}

/** A large input's read capability and CID, both or neither, with no inline bytes beside them. */
function storedInput (run: { i: Uint8Array, ir?: string, ic?: string }, f: Record<string, unknown>, prefix: string): void {
  if (f.ir === undefined && f.ic === undefined) return
  run.ir = str(f.ir, `${prefix}ir`, MAX_CAP_CHARS)
  run.ic = str(f.ic, `${prefix}ic`, 256)
  if (run.i.byteLength !== 0) throw new MalformedError(`compute frame field ${prefix}i must be empty when ${prefix}ir names the input`, { field: `${prefix}i` })
}

/** A result's fields, shape-checked (`f`: the map, its keys already checked). */
function resultEntry (f: Record<string, unknown>, prefix: string): ResultEntry {
  const r: ResultEntry = {
    a: str(f.a, `${prefix}a`),
    st: str(f.st, `${prefix}st`, 32),
    fuel: int(f.fuel, `${prefix}fuel`, MAX_FUEL),
    cm: str(f.cm, `${prefix}cm`, 256),
    oc: str(f.oc, `${prefix}oc`, 256),
    o: bytes(f.o, `${prefix}o`, MAX_OUTPUT_BYTES),
    rc: bytes(f.rc, `${prefix}rc`, 4096),
    ms: int(f.ms, `${prefix}ms`, 2 ** 40)
  }
  if (f.msg !== undefined) r.msg = str(f.msg, `${prefix}msg`, MAX_TEXT)
  if (f.or !== undefined) {
    r.or = str(f.or, `${prefix}or`, MAX_CAP_CHARS)
    if (r.o.byteLength !== 0) throw new MalformedError(`compute frame field ${prefix}o must be empty when ${prefix}or names the output`, { field: `${prefix}o` })
  }
  return r
}

const RESULT_KEYS = ['a', 'st', 'msg', 'fuel', 'cm', 'oc', 'o', 'or', 'rc', 'ms']

/**
 * An upper bound of the bytes a result adds to a results frame (its fields' lengths plus their
 * keys and headers): how a worker decides when to start another frame.
 */
export function resultBytes (r: ResultEntry): number {
  return r.o.byteLength + (r.or?.length ?? 0) + r.rc.byteLength + r.a.length * 3 + r.st.length * 3 + r.cm.length * 3 + r.oc.length * 3 + (r.msg?.length ?? 0) * 3 + 96
}

/** Decode and shape-check a frame a coordinator received; throws MalformedError. */
export function decodeWorkerFrame (data: Uint8Array): WorkerFrame {
  const x = decode(data, { maxBytes: MAX_WORKER_FRAME, canonical: false }) as { k?: unknown }
  switch (x?.k) {
    case 'result':
      return { k: 'result', ...resultEntry(map(x, ['k', ...RESULT_KEYS]), '') }
    case 'results': {
      const f = map(x, ['k', 'r'])
      if (!Array.isArray(f.r) || f.r.length === 0 || f.r.length > MAX_RESULTS_PER_FRAME) throw new MalformedError(`compute frame field r must list 1..${MAX_RESULTS_PER_FRAME} results`, { field: 'r' })
      const r = (f.r as unknown[]).map(e => resultEntry(map(e, RESULT_KEYS), 'r.'))
      if (new Set(r.map(e => e.a)).size !== r.length) throw new MalformedError('compute frame field r names an assignment twice', { field: 'r' })
      return { k: 'results', r }
    }
    case 'need-module': {
      const f = map(x, ['k', 'a', 'm'])
      return { k: 'need-module', a: str(f.a, 'a'), m: str(f.m, 'm') }
    }
    case 'error': {
      const f = map(x, ['k', 'a', 'name', 'message'])
      return { k: 'error', a: str(f.a, 'a'), name: str(f.name, 'name'), message: str(f.message, 'message', MAX_TEXT) }
    }
  }
  throw new MalformedError('a compute frame to a coordinator is a result, results, need-module or error', { field: 'k' })
}

/** Encode any compute frame (fields left undefined are omitted, in a runs or results frame's entries too). */
export function encodeFrame (frame: CoordinatorFrame | WorkerFrame): Uint8Array {
  const clean: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(frame)) if (v !== undefined) clean[k] = v
  // the common shapes built directly (the dispatch path); others without their undefined fields
  if (frame.k === 'runs') clean.r = frame.r.map(e => e.s === undefined && e.ir === undefined ? { a: e.a, t: e.t, i: e.i } : defined(e))
  if (frame.k === 'results') clean.r = frame.r.map(e => e.msg === undefined && e.or === undefined ? { a: e.a, st: e.st, fuel: e.fuel, cm: e.cm, oc: e.oc, o: e.o, rc: e.rc, ms: e.ms } : defined(e))
  return encode(clean)
}

/** An entry without its undefined fields (DAG-CBOR has no undefined). */
function defined<T extends object> (e: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(e)) if (v !== undefined) out[k] = v
  return out as T
}
