// The unmetered baseline of compute benchmarks: a task module instantiated
// with a plain host implementing the task ABI's imports (no fuel, no limits,
// no commitment), run once. Random bytes are zeros and logs are dropped.
import { concatBytes } from '../../packages/protocol/src/index.ts'

/** Run `module`'s `run` on `input` with a plain host; returns its output. */
export function plainRun (module: WebAssembly.Module, input: Uint8Array): Uint8Array {
  let mem: WebAssembly.Memory | null = null
  const out: Uint8Array[] = []
  const u8 = (): Uint8Array => new Uint8Array(mem!.buffer)
  const instance = new WebAssembly.Instance(module, {
    wf: {
      input_size: () => input.length,
      input_read: (dst: number, off: number, len: number) => {
        const n = Math.max(0, Math.min(len, input.length - off))
        u8().set(input.subarray(off, off + n), dst)
        return n
      },
      output_write: (src: number, len: number) => { out.push(u8().slice(src, src + len)) },
      random_fill: () => {},
      log: () => {}
    },
    env: { abort: () => { throw new Error('abort') } }
  })
  mem = instance.exports.memory as WebAssembly.Memory
  const start = instance.exports._start as (() => void) | undefined
  if (start !== undefined) start()
  ;(instance.exports.run as () => void)()
  return concatBytes(...out)
}
