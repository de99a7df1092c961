// WebDeterministicVM: load (check, instrument, compile) and execute task
// modules deterministically, with fuel metering and a trace commitment.
// See packages/compute/README.md and packages/compute/ABI.md.
export {
  allowedImports, type FuncType, type Profile
} from './abi.ts'
export {
  ForbiddenImportError, InvalidModuleError, InvalidOptionsError, MemoryLimitError, MissingExportError,
  ModuleTooLargeError, NondeterministicFeatureError, StackExhaustedError, UnsupportedFeatureError
} from './errors.ts'
export {
  BULK_SHIFT, DEFAULT_MEMORY_LIMIT_BYTES, FRAME_BASE_UNITS, type InstrumentInit, type Instrumented, instrument,
  CHAIN_FREE_UNITS, type ModuleInfo, STACK_BUDGET_UNITS, TABLE_LIMIT
} from './instrument.ts'
export { ChaCha20Stream } from './prng.ts'
export {
  type CommitmentRecord, DEFAULT_LOG_LIMIT_BYTES, DEFAULT_MAX_MODULE_BYTES, DEFAULT_OUTPUT_LIMIT_BYTES,
  DEFAULT_SLICE_FUEL, type Execution, type ExecuteInit, type ExecutionStatus, execute, HOST_BYTES_SHIFT,
  type LoadedModule, type LoadInit, loadModule, type ProcessHost, rawCid, type ReplayInit, type ReplayResult,
  replay, type SliceInfo, taskSeed, type TrapKind, trapKindOf, VM_VERSION
} from './vm.ts'
