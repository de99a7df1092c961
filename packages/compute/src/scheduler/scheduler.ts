// The compute Scheduler (sans-I/O). Implementation in progress: the public
// surface below is stable; see README.md.
import type { ReputationSnapshot, SchedulerEffect, SchedulerInit, SchedulerInput, SchedulerStats } from './types.ts'

/** Sarmenta's credibility of a worker that passed `checks` spot-checks, with blacklisting: 1 − f/((1−f)·k·e); 1 − f before any. */
export function workerCredibility (checks: number, f: number): number {
  if (checks <= 0) return 1 - f
  return Math.max(1 - f, 1 - f / ((1 - f) * checks * Math.E))
}

/**
 * Sarmenta's credibility of result group `index` among `groups` (each a list of worker credibilities),
 * assuming saboteurs collude: P_T(Ga)·Π_{b≠a} P_F(Gb) / (Σ_j P_T(Gj)·Π_{i≠j} P_F(Gi) + Π_i P_F(Gi)).
 */
export function groupCredibility (groups: number[][], index: number): number {
  throw new Error(`not implemented yet ${groups.length} ${index}`)
}

/** The coordinator's scheduler for one origin. */
export class Scheduler {
  constructor (init: SchedulerInit) {
    void init
  }

  /** Consumes one input; returns what to do, in order. Throws a named error (state unchanged) for refused inputs. */
  step (input: SchedulerInput): SchedulerEffect[] {
    void input
    return []
  }

  /** The origin's reputations, to persist and pass back as `SchedulerInit.reputation`. */
  reputation (): ReputationSnapshot {
    return { v: 1, workers: [] }
  }

  /** Work counters since construction. */
  stats (): SchedulerStats {
    return { assigned: 0, results: 0, verifications: 0, timeouts: 0, accepted: 0, reopened: 0, blacklisted: 0 }
  }
}
