// V8's collector, set for a process that moves bytes. Every buffer a node
// reads, encrypts, decrypts or hashes lives outside V8's heap, and by default
// V8 starts a full mark-compact each time such external memory grows some
// tens of megabytes past what the last one left, whatever the heap's own
// size: a 100 MiB fetch between two nodes of one process set off 8–11 of
// them, a quarter of its CPU, most of it marking a heap of ~25 MB that had
// not changed. With external memory counted in V8's global limit instead
// (a V8 flag, off by default in Node 24's V8), the same fetch sets off 2–5,
// and the process's peak resident memory grows by ~80 MB. A heuristic only:
// no result changes. Process-wide, so a node embedded in another program
// may keep V8's default (FabricNodeInit.v8Tuning: false).
import { setFlagsFromString } from 'node:v8'

let tuned = false

/** Counts external memory in V8's global heap limit, once per process (idempotent). */
export function tuneV8ForBytes (): void {
  if (tuned) return
  setFlagsFromString('--external-memory-accounted-in-global-limit')
  tuned = true
}
