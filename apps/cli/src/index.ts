// @webfabric/cli — the `webfabric` command and the local-fabric launcher.
export * from './local-fabric.ts'
export * from './fabric-file.ts'
export * from './keys.ts'
