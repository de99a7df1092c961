// @webfabric/sim — the deterministic simulator that runs protocol cores
// (membership, scheduling, consensus, storage repair) under injected faults.

export { Prng } from '@webfabric/protocol'
export { EventQueue } from './queue.ts'
export type { Scheduled } from './queue.ts'
export { Simulator } from './simulator.ts'
export type { DropReason, Faults, Latency, LinkFaults, Metrics, NodeEnv, NodeFactory, SimInit, SimNode, TotalMetrics, TraceEvent } from './simulator.ts'
