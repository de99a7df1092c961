// Sandbox domains: worker threads running the deterministic VM, with a
// watchdog, a duty cycle held between fuel slices, pause and abort at slice
// boundaries, and results identical to the VM run in this thread.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { compileTask } from '@webfabric/sdk'
import { AHEAD_MAX_FUEL, MAX_AHEAD } from '../src/sandbox/domain-base.ts'
import { CTRL_RUN_ID } from '../src/sandbox/domain-core.ts'
import { type DomainResult, SandboxDomain, SandboxPool } from '../src/sandbox/domain.ts'
import { execute, loadModule } from '../src/vm/index.ts'

const SPIN = fileURLToPath(new URL('./fixtures/assembly/spin.ts', import.meta.url))
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
// small slices so pause and abort take effect quickly in tests
const SLICE = 200_000

describe('sandbox domains', () => {
  let module: Uint8Array
  before(async () => { module = await compileTask(SPIN) })

  describe('one domain', () => {
    let domain: SandboxDomain
    before(() => { domain = new SandboxDomain({ sliceFuel: SLICE }) })
    after(async () => { await domain.close() })

    it('gives the same output, fuel and commitment as the VM in this thread', async () => {
      const input = u32(100_000)
      const here = await execute(await loadModule(module, { profile: 'task' }), { input, fuelLimit: 1e9 })
      const there = await domain.run({ module, input, fuelLimit: 1e9 })
      assert.equal(there.status, 'ok')
      assert.deepEqual(there.output, here.output)
      assert.equal(there.fuel, here.fuel)
      assert.equal(there.commitment, here.commitment.toString())
      assert.equal(there.outputCid, here.outputCid.toString())
    })

    it('an infinite loop ends as out-of-fuel, a deterministic result', async () => {
      const r = await domain.run({ module, input: u32(0), fuelLimit: 5_000_000 })
      assert.equal(r.status, 'out-of-fuel')
      assert.equal(r.fuel, 5_000_000)
      const again = await domain.run({ module, input: u32(0), fuelLimit: 5_000_000 })
      assert.equal(again.commitment, r.commitment)
    })

    it('abort stops a run at its next fuel slice, and the domain keeps working', async () => {
      const running = domain.run({ module, input: u32(0), fuelLimit: 2 ** 50 })
      await sleep(100)
      domain.abort()
      // counted from the moment the abort is set: read before it, a busy machine may let the worker
      // pass several short slices between the read and the abort
      const before = domain.meters.slices
      await assert.rejects(running, { name: 'DomainAbortedError' })
      // only the slice in progress ran on: the domain stopped at its boundary
      assert.ok(domain.meters.slices - before <= 1, `passed ${domain.meters.slices - before} slice boundaries after the abort`)
      const r = await domain.run({ module, input: u32(1000), fuelLimit: 1e8 })
      assert.equal(r.status, 'ok')
    })

    it('pause holds a run at a slice boundary until resume', async () => {
      const running = domain.run({ module, input: u32(3_000_000), fuelLimit: 1e10 })
      await sleep(30)
      domain.pause()
      await sleep(50)
      const held = domain.meters.slices
      await sleep(200)
      assert.equal(domain.meters.slices, held, 'no slice ran while paused')
      domain.resume()
      const r = await running
      assert.equal(r.status, 'ok')
    })

    it('an AbortSignal stops the run too', async () => {
      const ac = new AbortController()
      const running = domain.run({ module, input: u32(0), fuelLimit: 2 ** 50 }, { signal: ac.signal })
      setTimeout(() => ac.abort(), 50)
      await assert.rejects(running, { name: 'DomainAbortedError' })
    })
  })

  it('the watchdog stops a run that takes too long and the domain restarts', async () => {
    // no fuel limit to speak of: only the wall clock can end it
    const domain = new SandboxDomain({ sliceFuel: SLICE, cpuShare: 0.1 })
    try {
      await assert.rejects(domain.run({ module, input: u32(0), fuelLimit: 2 ** 50 }, { watchdogMs: 300 }), { name: 'WatchdogTimeoutError' })
      assert.equal(domain.restarts, 1)
      const r = await domain.run({ module, input: u32(10), fuelLimit: 1e6 })
      assert.equal(r.status, 'ok')
    } finally {
      await domain.close()
    }
  })

  it('a CPU share below 1 rests between slices; a full share never rests', async () => {
    const slow = new SandboxDomain({ sliceFuel: SLICE, cpuShare: 0.25 })
    const full = new SandboxDomain({ sliceFuel: SLICE, cpuShare: 1 })
    try {
      const input = u32(2_000_000)
      const [a, b] = [await slow.run({ module, input, fuelLimit: 1e10 }), await full.run({ module, input, fuelLimit: 1e10 })]
      assert.deepEqual(a.output, b.output)
      assert.ok(slow.meters.slices > 3)
      assert.ok(slow.meters.sleptMs > 0, 'the throttled domain slept')
      assert.equal(full.meters.sleptMs, 0)
    } finally {
      await slow.close()
      await full.close()
    }
  })

  it('slices shorter than a millisecond still hold the share: the rest they owe carries over', async () => {
    // 20k fuel is tens of microseconds: each slice alone owes too little rest to wait for
    const tiny = new SandboxDomain({ sliceFuel: 20_000, cpuShare: 0.25 })
    try {
      // the first run compiles the module in the domain; measure the second
      await tiny.run({ module, input: u32(1000), fuelLimit: 1e10 })
      const [slices, slept, busy] = [tiny.meters.slices, tiny.meters.sleptMs, tiny.busyMs]
      // long enough (~0.1 s of compute) that what a run costs outside its slices — messages to and
      // from the domain, hashing, a loaded machine's scheduling delays — stays small beside the rest
      await tiny.run({ module, input: u32(20_000_000), fuelLimit: 1e10 })
      assert.ok(tiny.meters.slices - slices > 100, `${tiny.meters.slices - slices} slices`)
      // at a quarter share, three quarters of the time running is rest (whatever the machine's speed)
      const rested = (tiny.meters.sleptMs - slept) / (tiny.busyMs - busy)
      assert.ok(rested > 0.5 && rested < 0.9, `rested ${rested.toFixed(2)} of the time, not about 0.75`)
    } finally {
      await tiny.close()
    }
  })

  it('a pool runs more executions than it has domains, each once, with identical results', async () => {
    const pool = new SandboxPool({ size: 2, sliceFuel: SLICE })
    try {
      const inputs = Array.from({ length: 6 }, (_, i) => u32(10_000 * (i + 1)))
      const results = await Promise.all(inputs.map(input => pool.run({ module, input, fuelLimit: 1e9 })))
      const again = await Promise.all(inputs.map(input => pool.run({ module, input, fuelLimit: 1e9 })))
      assert.deepEqual(results.map(r => r.commitment), again.map(r => r.commitment))
      assert.equal(new Set(results.map(r => r.commitment)).size, 6)
      assert.equal(pool.domains.reduce((n, d) => n + d.runs, 0), 12)
    } finally {
      await pool.close()
    }
  })

  it('aborting runs queued behind a busy pool settles every one of them at once, and the pool still works', async () => {
    const pool = new SandboxPool({ size: 1, sliceFuel: SLICE })
    try {
      const controllers = Array.from({ length: 4 }, () => new AbortController())
      // an endless run holds the only domain; three more wait in the queue
      const runs = controllers.map(ac => pool.run({ module, input: u32(0), fuelLimit: 1e15 }, { signal: ac.signal }))
      for (const r of runs) r.catch(() => {})
      await sleep(100)
      assert.equal(pool.load, 4)
      // the way a worker stops everything: each run's signal, then the domains
      for (const ac of controllers) ac.abort()
      pool.abortAll()
      const settled = await Promise.allSettled(runs)
      assert.deepEqual(settled.map(s => s.status), ['rejected', 'rejected', 'rejected', 'rejected'])
      assert.equal(pool.load, 0)
      assert.equal((await pool.run({ module, input: u32(5), fuelLimit: 1e6 })).status, 'ok')
    } finally {
      await pool.close()
    }
  })

  it('a queued run whose wakeup comes after its abort passes the wakeup on', async () => {
    const pool = new SandboxPool({ size: 1, sliceFuel: SLICE })
    try {
      const first = new AbortController()
      const holder = pool.run({ module, input: u32(0), fuelLimit: 1e15 }, { signal: first.signal })
      holder.catch(() => {})
      const a = new AbortController()
      const queued = [pool.run({ module, input: u32(7), fuelLimit: 1e6 }, { signal: a.signal }), pool.run({ module, input: u32(8), fuelLimit: 1e6 })]
      queued[0].catch(() => {})
      await sleep(50)
      a.abort()
      first.abort()
      await assert.rejects(holder)
      await assert.rejects(queued[0])
      assert.equal((await queued[1]).status, 'ok', 'the run behind the aborted one still gets the domain')
    } finally {
      await pool.close()
    }
  })

  it('a closed domain refuses work', async () => {
    const d = new SandboxDomain()
    await d.close()
    await assert.rejects(d.run({ module, input: u32(1), fuelLimit: 1e6 }), { name: 'DomainClosedError' })
  })

  it('a module the VM refuses is an error of the run, not a crash of the domain', async () => {
    const d = new SandboxDomain()
    try {
      await assert.rejects(d.run({ module: new Uint8Array([0, 97, 115, 109, 1, 0, 0]), input: u32(1), fuelLimit: 1e6 }), { name: 'InvalidModuleError' })
      const r = await d.run({ module, input: u32(5), fuelLimit: 1e6 })
      assert.equal(r.status, 'ok')
    } finally {
      await d.close()
    }
  })
})

describe('sandbox domains: started ahead of the first run', () => {
  it('prestart starts the workers now; runs then go straight to them, and closing mid-start does not hang', async () => {
    const module = await compileTask(SPIN)
    const pool = new SandboxPool({ size: 2 })
    try {
      pool.prestart()
      const alive = (): boolean => pool.domains.every(d => (d as unknown as { alive: boolean }).alive)
      for (let i = 0; !alive(); i++) {
        assert.ok(i < 300, 'the domains never started')
        await sleep(50)
      }
      pool.prestart() // started already: nothing happens
      const rs = await Promise.all([1, 2, 3].map(async n => await pool.run({ module, input: u32(n), fuelLimit: 1e6 })))
      for (const r of rs) assert.equal(r.status, 'ok')
      assert.equal(pool.domains.reduce((n, d) => n + d.restarts, 0), 0)
    } finally {
      await pool.close()
    }
    const closing = new SandboxPool({ size: 1 })
    closing.prestart()
    await closing.close()
    closing.prestart() // closed: nothing starts
    await assert.rejects(closing.run({ module, input: u32(1), fuelLimit: 1e6 }), { name: 'DomainClosedError' })
  })
})

describe('sandbox domains: module bytes cross once', () => {
  it('a module named by id is sent once; an evicted one is sent again and the run still succeeds', async () => {
    const module = await compileTask(SPIN)
    const d = new SandboxDomain()
    try {
      const first = await d.run({ module, moduleId: 'spin', input: u32(10), fuelLimit: 1e6 })
      const again = await d.run({ module, moduleId: 'spin', input: u32(10), fuelLimit: 1e6 })
      assert.equal(again.commitment, first.commitment)
      // the worker forgets it (a restart empties its cache): the next run sends the bytes again
      await (d as unknown as { detach: () => { terminate: () => unknown } | undefined }).detach()?.terminate()
      ;(d as unknown as { held: Set<string> }).held.add('spin')
      const after = await d.run({ module, moduleId: 'spin', input: u32(10), fuelLimit: 1e6 })
      assert.equal(after.commitment, first.commitment)
    } finally {
      await d.close()
    }
  })
})

describe('sandbox domains: a short task handed over behind the running one', () => {
  let module: Uint8Array
  before(async () => { module = await compileTask(SPIN) })
  const warm = async (d: SandboxDomain): Promise<void> => {
    for (let i = 0; i < 2; i++) await d.run({ module, moduleId: 'spin', input: u32(1), fuelLimit: 1e6 })
  }

  it('runs after it with the same results as alone; a long task is never handed over', async () => {
    const d = new SandboxDomain({ sliceFuel: SLICE })
    try {
      const ns = Array.from({ length: MAX_AHEAD + 1 }, (_, i) => i + 1)
      const alone: DomainResult[] = []
      for (const n of ns) alone.push(await d.run({ module, input: u32(n), fuelLimit: 1e6 }))
      // a run measures the module short (little fuel); only then does the domain take runs ahead
      await warm(d)
      const runs = [d.run({ module, moduleId: 'spin', input: u32(1), fuelLimit: 1e6 })]
      for (const n of ns.slice(1)) {
        assert.equal(d.canTakeAhead({ module, moduleId: 'spin', input: u32(n), fuelLimit: 1e6 }), true)
        runs.push(d.run({ module, moduleId: 'spin', input: u32(n), fuelLimit: 1e6 }))
      }
      // MAX_AHEAD behind at most, and only for the module measured
      assert.equal(d.queued, MAX_AHEAD + 1)
      assert.equal(d.canTakeAhead({ module, moduleId: 'spin', input: u32(3), fuelLimit: 1e6 }), false)
      const results = await Promise.all(runs)
      assert.equal(d.aheadRuns, MAX_AHEAD)
      assert.deepEqual(results.map(r => r.commitment), alone.map(r => r.commitment))
      assert.equal(d.canTakeAhead({ module, moduleId: 'other', input: u32(3), fuelLimit: 1e6 }), false)
      // a run that used more fuel than AHEAD_MAX_FUEL: nothing waits behind the next one
      assert.ok((await d.run({ module, moduleId: 'spin', input: u32(3_000_000), fuelLimit: 1e10 })).fuel > AHEAD_MAX_FUEL)
      const long = d.run({ module, moduleId: 'spin', input: u32(1), fuelLimit: 1e6 })
      assert.equal(d.canTakeAhead({ module, moduleId: 'spin', input: u32(2), fuelLimit: 1e6 }), false)
      await assert.rejects(d.run({ module, moduleId: 'spin', input: u32(2), fuelLimit: 1e6 }), /one execution at a time/)
      await long
    } finally {
      await d.close()
    }
  })

  it('stopping the one behind leaves the running one alone, and stopping the running one leaves the one behind', async () => {
    const d = new SandboxDomain({ sliceFuel: SLICE })
    try {
      await warm(d)
      // a run long enough to be running when the next is handed over (measured short: the last run was)
      const first = new AbortController()
      const running = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 }, { signal: first.signal })
      const second = new AbortController()
      const behind = d.run({ module, moduleId: 'spin', input: u32(7), fuelLimit: 1e6 }, { signal: second.signal })
      assert.equal(d.aheadRuns, 1)
      second.abort()
      await assert.rejects(behind, { name: 'DomainAbortedError' })
      await sleep(50)
      assert.equal(d.busy, true) // the running one still runs
      first.abort()
      await assert.rejects(running, { name: 'DomainAbortedError' })
      // and the other way round: the running one stopped, the one behind runs to its result
      await warm(d)
      const third = new AbortController()
      const again = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 }, { signal: third.signal })
      const after = d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })
      await sleep(50)
      third.abort()
      await assert.rejects(again, { name: 'DomainAbortedError' })
      assert.equal((await after).status, 'ok')
      // abort() stops both
      await warm(d)
      const x = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 })
      const y = d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })
      await sleep(50)
      d.abort()
      await assert.rejects(x, { name: 'DomainAbortedError' })
      await assert.rejects(y, { name: 'DomainAbortedError' })
      assert.equal((await d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })).status, 'ok')
    } finally {
      await d.close()
    }
  })

  it('stopping one of several behind leaves the others to their results', async () => {
    const d = new SandboxDomain({ sliceFuel: SLICE })
    try {
      await warm(d)
      const expected = (await d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })).commitment
      const running = d.run({ module, moduleId: 'spin', input: u32(50_000), fuelLimit: 1e9 })
      const stops = Array.from({ length: 4 }, () => new AbortController())
      const behind = stops.map(ac => d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 }, { signal: ac.signal }))
      stops[1].abort()
      await assert.rejects(behind[1], { name: 'DomainAbortedError' })
      assert.equal((await running).status, 'ok')
      for (const i of [0, 2, 3]) assert.equal((await behind[i]).commitment, expected)
      assert.equal((await d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })).commitment, expected)
    } finally {
      await d.close()
    }
  })

  it('when the running one hits the watchdog, the ones behind run on the restarted worker', async () => {
    // (the run behind compiles its module on the restarted worker within its own watchdog: give it room on a busy machine)
    const d = new SandboxDomain({ sliceFuel: SLICE, watchdogMs: 2000 })
    try {
      await warm(d)
      const ok = await d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })
      const stuck = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 })
      const behind = [1, 2, 3].map(() => d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 }))
      await assert.rejects(stuck, { name: 'WatchdogTimeoutError' })
      for (const b of behind) assert.equal((await b).commitment, ok.commitment)
      assert.equal(d.restarts, 1)
    } finally {
      await d.close()
    }
  })

  it('a run that ended is never failed by the watchdog of the one after it; that one alone is', async () => {
    // a run's answer waits in the domain while more than two runs are queued behind it
    const d = new SandboxDomain({ sliceFuel: SLICE, watchdogMs: 2000 })
    try {
      await warm(d)
      const first = d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })
      const stuck = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 })
      const behind = [1, 2, 3].map(() => d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 }))
      let stopped = false
      stuck.catch(() => { stopped = true })
      const ok = await first
      assert.equal(ok.status, 'ok')
      // its answer came at the end of the next one's first slice, not after that one's watchdog
      assert.equal(stopped, false)
      await assert.rejects(stuck, { name: 'WatchdogTimeoutError' })
      for (const b of behind) assert.equal((await b).commitment, ok.commitment)
      assert.equal(d.restarts, 1)
    } finally {
      await d.close()
    }
  })

  it('a watchdog or a crash is blamed on the run the domain is in, even while the answers of those before it wait', async () => {
    // no slice ends within a run here: the answers of the runs that ended wait until the worker is gone
    const d = new SandboxDomain({ sliceFuel: 2 ** 52, watchdogMs: 2000 })
    const internals = d as unknown as { nextId: number, control: Int32Array, worker?: { terminate: () => unknown } }
    const inRun = async (id: number): Promise<void> => {
      while (Atomics.load(internals.control, CTRL_RUN_ID) !== id) await sleep(10)
    }
    try {
      for (const end of ['watchdog', 'crash']) {
        await warm(d)
        const expected = (await d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })).commitment
        const id = internals.nextId
        const first = d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })
        const stuck = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 })
        const behind = [1, 2, 3].map(() => d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 }))
        await inRun(id + 1)
        if (end === 'crash') void internals.worker?.terminate()
        await assert.rejects(stuck, { name: end === 'crash' ? 'DomainCrashedError' : 'WatchdogTimeoutError' })
        // the run that ended runs again on the restarted worker (a task's result is deterministic)
        assert.equal((await first).commitment, expected)
        for (const b of behind) assert.equal((await b).commitment, expected)
      }
    } finally {
      await d.close()
    }
  })

  it('stopping the running one and then those behind it stops each of them', async () => {
    const d = new SandboxDomain({ sliceFuel: SLICE, watchdogMs: 10_000 })
    try {
      for (const order of ['running first', 'running last']) {
        await warm(d)
        const stops = Array.from({ length: MAX_AHEAD + 1 }, () => new AbortController())
        const running = d.run({ module, moduleId: 'spin', input: u32(0), fuelLimit: 2 ** 50 }, { signal: stops[0].signal })
        const behind = stops.slice(1).map(ac => d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 }, { signal: ac.signal }))
        assert.equal(d.queued, MAX_AHEAD + 1)
        await sleep(100)
        for (const ac of order === 'running first' ? stops : stops.toReversed()) ac.abort()
        // the running one stops at its next slice, not at its watchdog
        await Promise.all([running, ...behind].map(async r => await assert.rejects(r, { name: 'DomainAbortedError' })))
        assert.equal((await d.run({ module, moduleId: 'spin', input: u32(9), fuelLimit: 1e6 })).status, 'ok')
      }
      assert.equal(d.restarts, 0)
    } finally {
      await d.close()
    }
  })

  it('a pool hands short tasks to busy domains; results are those of runs one at a time', async () => {
    const pool = new SandboxPool({ size: 2 })
    try {
      const inputs = Array.from({ length: 200 }, (_, i) => u32(i + 1))
      const one = new SandboxPool({ size: 1 })
      const expected: string[] = []
      try { for (const input of inputs) expected.push((await one.run({ module, input, fuelLimit: 1e6 })).commitment) } finally { await one.close() }
      const got = await Promise.all(inputs.map(async input => (await pool.run({ module, moduleId: 'spin', input, fuelLimit: 1e6 })).commitment))
      assert.deepEqual(got, expected)
      assert.ok(pool.domains.some(d => d.aheadRuns > 0), 'no run was handed over behind another')
      assert.equal(pool.domains.reduce((n, d) => n + d.runs, 0), 200)
    } finally {
      await pool.close()
    }
  })
})
