// Driver-facing types of the repair core. Every message, effect and snapshot
// is plain data (strings, numbers, booleans, arrays, plain objects) with no
// undefined values, so a driver may DAG-CBOR encode, JSON-encode, log or
// persist it as it is. Times are ms of the driver's clock (the `now` inputs).

import type { Redundancy } from '../object/root.ts'

// How an object is stored (the object package's type): r full copies (any 1
// recovers it), or k data + m parity erasure shares (any k recover it).
export type { Redundancy }

// Where an object's shares live. `holders[i]` holds share i (position i);
// a peer appears at most once. Records of one root are totally ordered by
// (version, then holders compared element-wise as strings): the greater wins.
// `version` grows by one per repair; a writer creates records with version 1.
// Records are immutable: the core never mutates one it was given or sent.
export interface PlacementRecord {
  root: string
  redundancy: Redundancy
  holders: string[]
  version: number
  shareBytes: number
}

// A live storage member as membership sees it; `weight` ≥ 0 is its relative
// capacity for placement (0: never chosen as a holder).
export interface StorageMember {
  peer: string
  weight: number
}

// One object's status, as the sender sees it: the record it considers winning,
// the positions it durably holds (share indices, whatever record lists them),
// and whether it asks the receiver to answer with its own status.
export interface StatusEntry {
  record: PlacementRecord
  held: number[]
  ask: boolean
}

// Status of one or more objects, from one holder to another. The only message
// of the protocol (idempotent: loss, duplication and reordering are harmless).
export interface StatusMessage {
  type: 'status'
  entries: StatusEntry[]
  // the sender is leaving for good and has deleted its shares (a hand-off):
  // rebuild its positions elsewhere at once, never on it (omitted otherwise)
  leaving?: true
}

// Everything the repair protocol sends.
export type RepairMessage = StatusMessage

// A (peer, position) pair a rebuild may fetch a share from.
export interface ShareSource {
  peer: string
  position: number
}

// Send `msg` to `to` (best effort: loss is repaired by anti-entropy).
export interface SendEffect { type: 'send', to: string, msg: RepairMessage }
// Rebuild share `position` of `root` onto `target`: fetch `need` shares from
// distinct positions among `sources` (self first if listed), reconstruct share
// `position`, push it with `record` and `key` to `target`; the target stores
// it durably, its driver calls `hold(record, position, now, key)` and
// persists, and only then acknowledges. Report the outcome with `rebuilt`; give up after
// `deadline` (the core counts the attempt as failed then anyway).
export interface RebuildEffect {
  type: 'rebuild'
  root: string
  position: number
  target: string
  sources: ShareSource[]
  need: number
  record: PlacementRecord
  // the placement key the object is ranked by (pass it on to the target)
  key: string
  deadline: number
}
// Delete this node's share `position` of `root`: the winning record lists
// another holder there, and every holder of that record has confirmed
// holding its share.
export interface DropEffect { type: 'drop', root: string, position: number }
// Call `tick` at (or after) `at`. Only the latest timer effect matters; a
// spurious tick is harmless.
export interface TimerEffect { type: 'timer', at: number }
// The durable state changed: persist `snapshot()` (before acknowledging any
// share push this input was part of).
export interface PersistEffect { type: 'persist' }
// Report: this node, as repair leader, installed `record`, in which `target`
// now holds `position` (in place of `replaced`; equal when a lost share was
// restored on the same holder).
export interface RepairedEffect { type: 'repaired', root: string, position: number, target: string, replaced: string, version: number }
// Report: a rebuild attempt failed or timed out; another target is tried.
export interface RebuildFailedEffect { type: 'rebuild-failed', root: string, position: number, target: string, reason: 'failed' | 'timeout' }
// Report (edge-triggered, by the repair leader): fewer than `need` positions
// are live and held, and at least one missing position is past its grace, so
// the object cannot be rebuilt; it is lost unless missing holders return.
export interface UnrecoverableEffect { type: 'unrecoverable', root: string, live: number, need: number }
// Report: a message was refused (malformed or over limits) and ignored. The
// driver may penalise the sender.
export interface RefusedEffect { type: 'refused', from: string, reason: string }

// Everything the core asks the driver to do or report.
export type RepairEffect =
  | SendEffect | RebuildEffect | DropEffect | TimerEffect | PersistEffect
  | RepairedEffect | RebuildFailedEffect | UnrecoverableEffect | RefusedEffect

// The outcome of a `rebuild` effect, as reported by the driver.
export interface RebuildResult {
  root: string
  position: number
  target: string
  ok: boolean
}

// What a node persists: every object it holds a share of, with the record it
// considers winning and its placement key. Plain, JSON- and structured-clone-safe.
export interface RepairSnapshot {
  format: 1
  objects: { record: PlacementRecord, held: number[], key: string }[]
}

// How one object looks from this node: positions live (holder in view, or
// self, and not known to lack its share), out of `n`; `need` recover it.
export interface Health {
  live: number
  n: number
  need: number
}

// Construction options; defaults in constants.ts.
export interface RepairInit {
  // This node's peer id.
  self: string
  // What this node persisted last (restart with its disk); omitted: empty.
  snapshot?: RepairSnapshot
  // A holder absent from the view this long (or reported lost) is replaced.
  graceMs?: number
  // A holder this node never saw in its view (absent at its first view, or
  // named by a record before its join reached this node) is replaced this
  // long after that (≤ graceMs). Default graceMs: safe if views lag. Set it to
  // the membership's join-propagation bound when `view` is called only once
  // membership has converged: a restarted or newly promoted leader then
  // resumes repairs sooner.
  warmupMs?: number
  // Base time a rebuild may take before it counts as failed…
  rebuildTimeoutMs?: number
  // …plus the share bytes moved (need × shareBytes) at this rate.
  rebuildBytesPerSec?: number
  // Anti-entropy period (each round is jittered ±25%, derived from a hash).
  antiEntropyMs?: number
  // Rebuilds this node runs at once (as leader, over all objects).
  maxConcurrentRebuilds?: number
  // A target whose rebuild failed is not tried again for this object for this long.
  failedTargetMs?: number
}
