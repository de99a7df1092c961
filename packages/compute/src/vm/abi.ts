// The import allow-lists of the task ABI (packages/compute/ABI.md), by
// profile, with the exact function type each import must have, and the
// names the instrumenter adds. Pure data.

/** Value type bytes of the binary format. */
export const I32 = 0x7f
export const I64 = 0x7e
export const F32 = 0x7d
export const F64 = 0x7c
export const V128 = 0x7b
export const FUNCREF = 0x70
export const EXTERNREF = 0x6f

/** A function type: parameter and result value types (binary-format bytes). */
export interface FuncType { params: number[], results: number[] }

/** What a module may run as: a `task` (deterministic) or a long-running `process`. */
export type Profile = 'task' | 'process'

const TASK: Record<string, FuncType> = {
  'wf.input_size': { params: [], results: [I32] },
  'wf.input_read': { params: [I32, I32, I32], results: [I32] },
  'wf.output_write': { params: [I32, I32], results: [] },
  'wf.random_fill': { params: [I32, I32], results: [] },
  'wf.log': { params: [I32, I32], results: [] },
  'env.abort': { params: [I32, I32, I32, I32], results: [] }
}

const PROCESS: Record<string, FuncType> = {
  ...TASK,
  'wf.now_ms': { params: [], results: [F64] },
  'wf.sleep_ms': { params: [I32], results: [] },
  'wf.publish': { params: [I32, I32, I32, I32], results: [I32] }
}

/** The imports a module of `profile` may have, keyed `module.name`. */
export function allowedImports (profile: Profile): Readonly<Record<string, FuncType>> {
  return profile === 'process' ? PROCESS : TASK
}

/** The function the instrumenter imports: called when the fuel slice runs out. */
export const SLICE_END_MODULE = 'wf'
export const SLICE_END_NAME = '__slice_end'
/** Exports the instrumenter adds (a module may not export names starting with RESERVED_PREFIX). */
export const RESERVED_PREFIX = '__wf_'
export const FUEL_EXPORT = '__wf_fuel'
export const DEPTH_EXPORT = '__wf_depth'
export const START_EXPORT = '__wf_start'

/** Human-readable type, for messages: (i32, i32) -> i32. */
export function typeString (t: FuncType): string {
  const n = (b: number): string => ({ [I32]: 'i32', [I64]: 'i64', [F32]: 'f32', [F64]: 'f64', [V128]: 'v128', [FUNCREF]: 'funcref', [EXTERNREF]: 'externref' } as Record<number, string>)[b] ?? `0x${b.toString(16)}`
  const results = t.results.length === 1 ? n(t.results[0]) : `(${t.results.map(n).join(', ')})`
  return `(${t.params.map(n).join(', ')}) -> ${results}`
}

/** True when two function types are identical. */
export function sameType (a: FuncType, b: FuncType): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length &&
    a.params.every((p, i) => p === b.params[i]) && a.results.every((r, i) => r === b.results[i])
}
