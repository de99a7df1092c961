// The bare host of the metering benchmarks: a task module (plain or
// instrumented) instantiated with just the task ABI's imports, input served,
// output and logs dropped, and fuel that never runs out, so a run measures
// the wasm alone (no execute, no commitment, no output copying).

/**
 * A run function for `module` with a bare host: the task imports, and for an instrumented module a
 * `__slice_end` that refills the fuel counter (so neither the slices nor the limit ever stop it).
 * Each call instantiates afresh and calls `run` once. Self-contained (it names nothing outside its body):
 * bench/metering-instructions.ts runs its source text in a plain-JS runner.
 */
export function bareRun (module: WebAssembly.Module, input: Uint8Array): () => void {
  let mem: WebAssembly.Memory | null = null
  let fuel: WebAssembly.Global | null = null
  const FUEL = 1n << 60n // more than any run spends
  const wf = {
    input_size: () => input.length,
    input_read: (dst: number, off: number, len: number) => {
      const n = Math.max(0, Math.min(len, input.length - off))
      new Uint8Array(mem!.buffer).set(input.subarray(off, off + n), dst)
      return n
    },
    output_write: () => {},
    random_fill: () => {},
    log: () => {},
    __slice_end: () => { fuel!.value = FUEL }
  }
  return () => {
    const instance = new WebAssembly.Instance(module, { wf, env: { abort: () => { throw new Error('abort') } } })
    mem = instance.exports.memory as WebAssembly.Memory
    fuel = (instance.exports.__wf_fuel as WebAssembly.Global | undefined) ?? null
    if (fuel !== null) fuel.value = FUEL
    const start = instance.exports.__wf_start as (() => void) | undefined // the plain module's start section runs on instantiation
    if (start !== undefined) start()
    ;(instance.exports.run as () => void)()
  }
}
