// @webfabric/sdk — what task authors use from Node: compile AssemblyScript
// tasks to ABI-conforming modules, and build inputs / read outputs in the
// byte formats the AssemblyScript side (`@webfabric/sdk/assembly`) uses.

export { compileTask, compileFlags, checkAbi } from './compile.ts'
export type { CompileTaskInit } from './compile.ts'
export { CompileError } from './errors.ts'
export type { CompileDiagnostic } from './errors.ts'
export { PROCESS_IMPORTS, TASK_IMPORTS } from './abi.ts'
export { ByteReader, ByteWriter, TruncatedBytesError, compareBytes, decodeCounts, encodeCounts } from './bytes.ts'
