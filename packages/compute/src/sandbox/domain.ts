// WebSandboxDomain in Node: a domain's worker is a worker thread with a V8
// heap limit, an empty environment and no stdio (see domain-base.ts for
// everything else). A pool of domains is how a node lends its cores.
import { setFlagsFromString } from 'node:v8'
import { Worker } from 'node:worker_threads'
import { type DomainSpawner, type SandboxInit, SandboxDomainBase, type SandboxPoolInit, SandboxPoolBase } from './domain-base.ts'

export type { DomainResult, DomainTask, RunOptions, SandboxInit, SandboxPoolInit } from './domain-base.ts'

const DEFAULT_HEAP_MB = 96

let hintsRead = false

/**
 * Has this process's V8 read wasm branch hints from now on: the instrumented module marks the paths that end a
 * fuel slice (and the depth trap and NaN paths) unlikely, so TurboFan lays them out of line and spills around their
 * calls there, not on the hot path. Chromium's V8 reads them by default; Node 24's only with this process-wide flag.
 * Hints place code and change no result. Idempotent; a domain's spawner calls it before the domain compiles.
 */
export function readBranchHints (): void {
  if (hintsRead) return
  setFlagsFromString('--experimental-wasm-branch-hinting')
  hintsRead = true
}

/** Worker threads for domains (unref'd: an idle domain never keeps the process alive). */
export const nodeSpawner: DomainSpawner = (control, init, on) => {
  readBranchHints()
  const worker = new Worker(new URL('./worker-node.ts', import.meta.url), {
    workerData: { control },
    resourceLimits: { maxOldGenerationSizeMb: init.heapLimitMb ?? DEFAULT_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 8 },
    env: {},
    execArgv: [],
    stdout: false,
    stderr: false
  })
  worker.on('message', m => on.message(m))
  worker.on('error', err => on.error(err))
  worker.on('exit', () => on.exit())
  worker.unref()
  return { postMessage: req => worker.postMessage(req), terminate: async () => await worker.terminate() }
}

/** A sandbox domain on a worker thread; runs one execution at a time. */
export class SandboxDomain extends SandboxDomainBase {
  constructor (init: SandboxInit = {}) { super(init, nodeSpawner) }
}

/** A pool of worker-thread domains with a FIFO queue. */
export class SandboxPool extends SandboxPoolBase {
  constructor (init: SandboxPoolInit = {}) { super(init, nodeSpawner) }
}
