// Compute with real processes: `webfabric up` starts a rendezvous (the
// coordinator) and workers as separate OS processes, one of them a saboteur;
// `webfabric run` compiles a task, runs it with a quorum, survives a worker
// killed with SIGKILL mid-job, and writes outputs and summary.json;
// `webfabric receipts` shows what a worker ran. Bad input gets clear errors.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { execute, loadModule } from '@webfabric/compute'
import { compileTask } from '@webfabric/sdk'
import { type FabricJson, cliFails, runCli, startUp, stopUp } from './fixtures.ts'

const SPIN = fileURLToPath(new URL('../../../packages/compute/test/fixtures/assembly/spin.ts', import.meta.url))
const TICKER = fileURLToPath(new URL('../../../packages/runtime/test/fixtures/assembly/ticker.ts', import.meta.url))
const BULK = fileURLToPath(new URL('../../../packages/runtime/test/fixtures/assembly/bulk.ts', import.meta.url))
const BOMB = fileURLToPath(new URL('../../../packages/compute/test/fixtures/assembly/bomb.ts', import.meta.url))
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)

async function cli (...args: string[]): Promise<{ stdout: string, stderr: string }> {
  return await runCli(args, 240_000)
}

describe('webfabric run on a local fabric (real processes)', () => {
  let dir: string
  let up: ChildProcess
  let fabric: FabricJson

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wf-compute-'))
    // node-4 is a saboteur (it returns corrupted results)
    ;({ up, fabric } = await startUp(dir, ['--nodes', '4', '--interval', '250', '--ttl', '2000', '--saboteur', 'node-4']))
  })

  after(async () => {
    await stopUp(up)
    await rm(dir, { recursive: true, force: true })
  })

  it('runs an AssemblyScript task per input file with 2-of-2 agreement, through a SIGKILLed worker and a saboteur', async () => {
    const inputs = join(dir, 'inputs')
    await mkdir(inputs)
    const values = Array.from({ length: 20 }, (_, i) => 3_000_000 + i * 1001)
    for (const [i, v] of values.entries()) await writeFile(join(inputs, `in-${String(i).padStart(2, '0')}`), u32(v))
    const out = join(dir, 'out')
    const victim = fabric.nodes.find(n => n.name === 'node-3')!
    const run = cli('run', SPIN, '--inputs', inputs, '--replicas', '2', '--quorum', '2', '--out', out, '--fabric', dir, '--json')
    // kill a worker once the job is under way
    setTimeout(() => { try { process.kill(victim.pid, 'SIGKILL') } catch {} }, 1500)
    const { stdout } = await run
    const summary = JSON.parse(stdout)
    assert.equal(summary.accepted, 20)
    assert.equal(summary.failed, 0)
    const mod = await loadModule(await compileTask(SPIN), { profile: 'task' })
    for (const [i, v] of values.entries()) {
      const expected = await execute(mod, { input: u32(v), fuelLimit: 1e10 })
      const t = summary.tasks[i]
      assert.equal(t.input, `in-${String(i).padStart(2, '0')}`)
      assert.equal(t.commitment, expected.commitment.toString())
      assert.deepEqual(new Uint8Array(await readFile(join(out, t.output))), expected.output)
    }
    const onDisk = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))
    assert.equal(onDisk.accepted, 20)
  })

  it('`webfabric receipts` lists what a worker ran, countersigned by the coordinator', async () => {
    const { stdout } = await cli('receipts', '--fabric', dir, '--node', 'node-1', '--json')
    const list = JSON.parse(stdout) as Array<{ worker: string, coordinator: string, fuel: number, accepted?: boolean, status: string }>
    assert.ok(list.length > 0)
    const node1 = fabric.nodes.find(n => n.name === 'node-1')!
    assert.ok(list.every(r => r.fuel > 0 && r.status === 'ok'))
    assert.ok(list.some(r => r.accepted === true))
    const { stdout: text } = await cli('receipts', '--fabric', dir, '--node', 'node-1')
    assert.match(text, new RegExp(`${list.length} receipt\\(s\\) on node-1`))
    assert.ok(node1.pid > 0)
  })

  it('an infinite loop is a deterministic out-of-fuel result, reported per task', async () => {
    const inputs = join(dir, 'loop')
    await mkdir(inputs)
    await writeFile(join(inputs, 'forever'), u32(0))
    const { stdout } = await cli('run', SPIN, '--inputs', inputs, '--fuel', '2000000', '--out', join(dir, 'loop-out'), '--fabric', dir, '--json')
    const summary = JSON.parse(stdout)
    assert.equal(summary.tasks[0].status, 'out-of-fuel')
    assert.equal(summary.tasks[0].fuel, 2_000_000)
  })

  it('a memory bomb stops at the lease\'s memory cap, deterministically', async () => {
    const input = join(dir, 'bomb-in')
    await writeFile(input, u32(1))
    const out = join(dir, 'bomb-out')
    const { stdout } = await cli('run', BOMB, '--inputs', input, '--out', out, '--fabric', dir, '--json')
    const summary = JSON.parse(stdout)
    assert.equal(summary.accepted, 1)
    assert.equal(summary.tasks[0].status, 'ok')
    const pages = new DataView((await readFile(join(out, summary.tasks[0].output))).buffer).getUint32(0, true)
    // a task's memory cap is part of the task (256 MiB unless the job says otherwise), so every
    // replica stopped at the same page and the answer was accepted by agreement
    assert.ok(pages > 0 && pages * 65536 <= 256 * 2 ** 20, `${pages} pages`)
    assert.ok(summary.tasks[0].workers.length >= 2, 'accepted on the workers\' agreement')
  })

  it('an input and an output over 8 MiB travel through the fabric\'s storage', async () => {
    // the bulk task: input = u32 output length, then bytes; output = a hash of the input, then that many bytes
    const body = new Uint8Array(9 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 2654435761) >>> 24
    const input = new Uint8Array(4 + body.length)
    new DataView(input.buffer).setUint32(0, 9 * 1024 * 1024 + 5, true)
    input.set(body, 4)
    const file = join(dir, 'bulk-in')
    await writeFile(file, input)
    const out = join(dir, 'bulk-out')
    const { stdout } = await cli('run', BULK, '--inputs', file, '--out', out, '--fabric', dir, '--json')
    const summary = JSON.parse(stdout)
    assert.equal(summary.accepted, 1)
    assert.match(summary.tasks[0].outputCap, /^wf-read:/)
    const expected = await execute(await loadModule(await compileTask(BULK), { profile: 'task' }), { input, fuelLimit: 1e10, outputLimitBytes: 64 << 20 })
    assert.deepEqual(new Uint8Array(await readFile(join(out, summary.tasks[0].output))), expected.output)
  })

  it('bad input gets a clear error and a non-zero exit; the fabric keeps working', async () => {
    const bad = join(dir, 'bad.wasm')
    await writeFile(bad, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]))
    const input = join(dir, 'one')
    await writeFile(input, u32(5))
    let r = await cliFails('run', bad, '--inputs', input, '--fabric', dir)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /InvalidModuleError/)

    // a module importing something outside the deterministic host API
    const forbidden = join(dir, 'forbidden.ts')
    await writeFile(forbidden, 'export function run (): void { trace("x") }\n')
    r = await cliFails('run', forbidden, '--inputs', input, '--fabric', dir)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /CompileError|ForbiddenImportError/)

    r = await cliFails('run', SPIN, '--inputs', 'wf-read:not-a-capability', '--fabric', dir)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /JobRefusedError: input 0: MalformedCapabilityError/)

    r = await cliFails('run', SPIN, '--fabric', dir)
    assert.equal(r.code, 2)
    r = await cliFails('run', SPIN, '--inputs', join(dir, 'nope'), '--fabric', dir)
    assert.equal(r.code, 2)
    assert.match(r.stderr, /does not exist/)

    const { stdout } = await cli('run', SPIN, '--inputs', input, '--out', join(dir, 'after'), '--fabric', dir, '--json')
    assert.equal(JSON.parse(stdout).accepted, 1)
  })

  it('`webfabric proc` spawns a process on a chosen node, streams its output, lists and kills one', async () => {
    const input = join(dir, 'ticker-in')
    const topic = new TextEncoder().encode('ticks')
    const b = new Uint8Array(8 + topic.length)
    new DataView(b.buffer).setUint32(0, 3, true)
    new DataView(b.buffer).setUint32(4, 10, true)
    b.set(topic, 8)
    await writeFile(input, b)
    const attached = await cli('proc', 'spawn', TICKER, '--input', input, '--on', 'node-1', '--cap', 'pubsub:ticks', '--fabric', dir)
    assert.equal(attached.stdout, 'tick 0\ntick 1\ntick 2\n')
    assert.match(attached.stderr, /log 0\nlog 1\nlog 2/)
    assert.match(attached.stderr, /exited: ok/)

    new DataView(b.buffer).setUint32(0, 0, true) // forever
    await writeFile(input, b)
    const { stdout: id } = await cli('proc', 'spawn', TICKER, '--input', input, '--detach', '--fabric', dir)
    const ls = JSON.parse((await cli('proc', 'ls', '--json', '--fabric', dir)).stdout) as Array<{ id: string, state: string }>
    assert.equal(ls.find(p => p.id === id.trim())?.state, 'running')
    const killed = JSON.parse((await cli('proc', 'kill', id.trim(), '--json', '--fabric', dir)).stdout)
    assert.equal(killed.state, 'killed')
    const r = await cliFails('proc', 'wait', id.trim(), '--fabric', dir)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /killed/)
    const bad = await cliFails('proc', 'spawn', TICKER, '--cap', 'storage:x', '--fabric', dir)
    assert.equal(bad.code, 2)
  })
})
