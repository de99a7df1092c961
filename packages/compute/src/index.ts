// @webfabric/compute: deterministic distributed compute — the metered wasm VM
// (WebDeterministicVM), sandbox domains (WebSandboxDomain), the scheduler
// with redundancy, quorum and reputation, and receipts.
export * from './vm/index.ts'
export * from './sandbox/errors.ts'
export * from './sandbox/domain-core.ts'
export * from './sandbox/domain-base.ts'
export * from './sandbox/domain.ts'
export * from './scheduler/index.ts'
export * from './receipts.ts'
