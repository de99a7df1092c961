// @webfabric/compute in browsers: everything but the Node sandbox (worker
// threads). Domains run on Web Workers (sandbox/domain-web.ts).
export * from './vm/index.ts'
export * from './sandbox/errors.ts'
export * from './sandbox/domain-core.ts'
export * from './sandbox/domain-base.ts'
export * from './sandbox/domain-web.ts'
export * from './scheduler/index.ts'
export * from './receipts.ts'
