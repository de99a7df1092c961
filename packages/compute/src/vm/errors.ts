// One error class per refusal of the WebDeterministicVM. Callers match on
// `name` (never `instanceof`); messages say what was wrong and what to do.
// Load-time errors refuse a module before it runs; `StackExhaustedError` is
// the one run-time error: a non-deterministic failure, never a result.

/** The bytes are not a WebAssembly module, are truncated, or are malformed. */
export class InvalidModuleError extends Error {
  static name = 'InvalidModuleError'
  constructor (message = 'not a valid WebAssembly module: rebuild it with a WebAssembly 1.0 toolchain (AssemblyScript: asc)', options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidModuleError'
  }
}

/** The module's bytes exceed the load limit (`maxModuleBytes`). */
export class ModuleTooLargeError extends Error {
  static name = 'ModuleTooLargeError'
  constructor (message = 'module is over the size limit: build it with optimisation (-O3, --noAssert) or raise maxModuleBytes', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ModuleTooLargeError'
  }
}

/** The module imports something outside its profile's allow-list (or with the wrong type). */
export class ForbiddenImportError extends Error {
  static name = 'ForbiddenImportError'
  /** `module.name` of the refused import */
  readonly importName: string
  constructor (importName: string, message = `import ${importName} is not allowed: a task may import only the functions of the task ABI (packages/compute/ABI.md)`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ForbiddenImportError'
    this.importName = importName
  }
}

/** The module lacks the `memory` or `run` export the ABI requires (or exports them with the wrong kind or type). */
export class MissingExportError extends Error {
  static name = 'MissingExportError'
  /** the missing export's name */
  readonly exportName: string
  constructor (exportName: string, message = `module does not export ${exportName} as the task ABI requires: export memory and run: () -> ()`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MissingExportError'
    this.exportName = exportName
  }
}

/** The module uses a feature whose results differ across engines or machines (threads, atomics, shared memory, SIMD). */
export class NondeterministicFeatureError extends Error {
  static name = 'NondeterministicFeatureError'
  /** short feature name: 'atomics', 'shared-memory', 'simd', 'relaxed-simd' */
  readonly feature: string
  constructor (feature: string, message = `module uses ${feature}, which is not deterministic across replicas: build without it`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'NondeterministicFeatureError'
    this.feature = feature
  }
}

/** The module uses a deterministic feature the instrumenter does not support (yet): exceptions, GC, memory64, multiple memories… */
export class UnsupportedFeatureError extends Error {
  static name = 'UnsupportedFeatureError'
  /** short feature name: 'exceptions', 'gc', 'memory64', 'multi-memory', … */
  readonly feature: string
  constructor (feature: string, message = `module uses ${feature}, which the deterministic VM does not support: build without it`, options?: ErrorOptions) {
    super(message, options)
    this.name = 'UnsupportedFeatureError'
    this.feature = feature
  }
}

/** The module's initial memory (or table) is larger than the cap the VM runs it under. */
export class MemoryLimitError extends Error {
  static name = 'MemoryLimitError'
  constructor (message = 'module needs more initial memory than the memory cap: lower its initial memory or raise memoryLimitBytes', options?: ErrorOptions) {
    super(message, options)
    this.name = 'MemoryLimitError'
  }
}

/** Options of loadModule / execute that are out of range. */
export class InvalidOptionsError extends Error {
  static name = 'InvalidOptionsError'
  constructor (message = 'invalid VM options: see packages/compute/README.md for their ranges', options?: ErrorOptions) {
    super(message, options)
    this.name = 'InvalidOptionsError'
  }
}

/**
 * The engine ran out of native stack before the VM's deterministic depth limit (a RangeError from V8).
 * Not a result replicas can agree on: retry on another worker, or report the module as too stack-hungry.
 */
export class StackExhaustedError extends Error {
  static name = 'StackExhaustedError'
  constructor (message = 'the engine exhausted its native stack before the deterministic depth limit: this run has no result; retry it in a worker with a larger stack', options?: ErrorOptions) {
    super(message, options)
    this.name = 'StackExhaustedError'
  }
}
