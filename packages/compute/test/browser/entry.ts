// Runs in Chromium (bundled by scripts/browser.ts): the deterministic VM in
// sandbox domains on Web Workers, as a tab computes for the fabric.
import { DomainAbortedError, WebSandboxPool } from '../../src/browser.ts'

let pool: WebSandboxPool | undefined

/** Opens a pool of `size` Web Worker domains at `cpuShare`. */
export function open (size: number, cpuShare: number): boolean {
  pool = new WebSandboxPool({ workerUrl: '/worker.js', size, cpuShare, sliceFuel: 2_000_000 })
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
}

/** Runs each input through the module; returns each result's status, fuel, output and commitment. */
export async function runAll (module: number[], inputs: number[][], fuelLimit: number): Promise<Array<{ status: string, fuel: number, output: number[], commitment: string }>> {
  const bytes = new Uint8Array(module)
  return await Promise.all(inputs.map(async i => {
    const r = await pool!.run({ module: bytes, input: new Uint8Array(i), fuelLimit, moduleId: 'spin' })
    return { status: r.status, fuel: r.fuel, output: [...r.output], commitment: r.commitment.toString() }
  }))
}

/**
 * Starts an endless task, lets it run `afterMs`, aborts the pool (what Revoke does) and reports
 * how the run ended and how many timer ticks the page's main thread served meanwhile.
 */
export async function abortEndless (module: number[], afterMs: number): Promise<{ ended: string, ticks: number, abortToEndMs: number }> {
  let ticks = 0
  const t = setInterval(() => { ticks++ }, 10)
  const run = pool!.run({ module: new Uint8Array(module), input: new Uint8Array(4), fuelLimit: 1e15, moduleId: 'spin' })
  await new Promise(resolve => setTimeout(resolve, afterMs))
  const at = performance.now()
  pool!.abortAll()
  let ended = 'finished'
  try {
    await run
  } catch (err) {
    ended = (err as Error).name
  }
  const abortToEndMs = performance.now() - at
  clearInterval(t)
  return { ended: ended === new DomainAbortedError().name ? 'DomainAbortedError' : ended, ticks, abortToEndMs }
}

export async function close (): Promise<void> { await pool?.close() }
