// How many assignments a coordinator keeps in flight at a worker, per sandbox
// domain: two when tasks are long (one runs while the next is on the wire), up
// to MAX_PIPELINE when they are short, so that about PIPELINE_WINDOW_MS of work
// waits at each domain. Short tasks otherwise leave a worker's domains idle for
// every round trip and come back in small batches — and each batch costs a
// signature, a verification, frames and a log write. Driven by the wall time
// workers report with each result. Pure: no clock, no I/O.
import { MAX_PIPELINE } from './compute-wire.ts'

/** Assignments per domain before anything is measured, and for tasks of PIPELINE_WINDOW_MS or more. */
export const MIN_PIPELINE = 2
/** Work (ms) the pipeline aims to keep queued at each domain. */
export const PIPELINE_WINDOW_MS = 20
/** Weight of the newest measurement in a worker's average task time. */
const ALPHA = 0.2
/** Shortest task time assumed (reports are whole ms; 0 means under one). */
const FLOOR_MS = 0.25

/** Assignments per domain for tasks that take `taskMs` (undefined: not measured yet). */
export function pipelineDepth (taskMs: number | undefined): number {
  if (taskMs == null || !Number.isFinite(taskMs)) return MIN_PIPELINE
  return Math.max(MIN_PIPELINE, Math.min(MAX_PIPELINE, Math.ceil(PIPELINE_WINDOW_MS / Math.max(FLOOR_MS, taskMs))))
}

/** Each worker's average task time and the pipeline depth it gives. */
export class PipelineDepths {
  private readonly taskMs = new Map<string, number>()

  /** Assignments per domain to keep in flight at `worker`. */
  depth (worker: string): number {
    return pipelineDepth(this.taskMs.get(worker))
  }

  /** A result from `worker` that took `wallMs` there; true when its depth changed. */
  observe (worker: string, wallMs: number): boolean {
    if (!Number.isFinite(wallMs) || wallMs < 0) return false
    const before = this.depth(worker)
    const avg = this.taskMs.get(worker)
    this.taskMs.set(worker, avg == null ? wallMs : avg + ALPHA * (wallMs - avg))
    return this.depth(worker) !== before
  }

  /** Forget workers not in `present`. */
  keep (present: Set<string>): void {
    for (const w of this.taskMs.keys()) if (!present.has(w)) this.taskMs.delete(w)
  }
}
