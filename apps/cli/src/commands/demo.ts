// The main job (`npm start`): an embedded local fabric renders the Mandelbrot
// set. A rendezvous (also the compute coordinator) and N worker nodes run as
// separate processes; one worker is a saboteur that returns wrong results,
// and another is killed with SIGKILL mid-job. Every tile is accepted only
// when independent workers agree; the demo checks each accepted tile against
// a local reference render, writes mandelbrot.png and summary.json, shows
// the receipts a participant sees, and stores the picture in the fabric's
// encrypted storage (three copies) and reads it back.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { JobProgress } from '@webfabric/runtime'
import type { MemberSummary } from '@webfabric/runtime/admin'
import { parse, parseNumber } from '../cli-util.ts'
import { connectNode } from '../fabric-file.ts'
import { startLocalFabric } from '../local-fabric.ts'
import { progressLine, writeOutputs } from './compute.ts'

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))

/** DIR/summary.json of the demo: what happened, in counts (per tile: DIR/tiles/summary.json). */
export interface DemoSummary {
  job: string
  module: string
  /** tiles in the job */
  tasks: number
  accepted: number
  failed: number
  /** results returned by workers (the coordinator's spot-checks are `verifications`) */
  executions: number
  verifications: number
  /** (executions + verifications) / tasks */
  overhead: number
  /** worker results not accepted: outvoted, failed a spot-check, or from a worker caught cheating */
  rejectedResults: number
  /** byzantine nodes blacklisted during the job for a result proven wrong (the demo runs one) */
  byzantineCaught: number
  byzantine: Array<{ node: string, peerId: string, caught: boolean }>
  /** honest nodes blacklisted (never expected: a bug if not 0) */
  honestCaught: number
  /** accepted tiles that differ from a local render (never expected) */
  wrongTiles: number
  /** the worker killed with SIGKILL mid-job, if any */
  killed: string | null
  /** the job's wall time, submit to last tile accepted */
  wallSeconds: number
  /** where the per-tile summary is, relative to this file */
  tiles: string
}

export async function demo (args: string[]): Promise<number> {
  const usage = `webfabric demo [--nodes N] [--dir D] [--out DIR] [--no-kill] [--keep]
  start a local fabric (a rendezvous + N workers, one of them a saboteur), render the Mandelbrot set
  across it with 2-of-2 agreement, kill a worker mid-job, and write DIR/mandelbrot.png and DIR/summary.json
  --out DIR   where the image and summary go (default ./webfabric-demo)
  --keep      leave the fabric running afterwards (Ctrl-C stops it)`
  const { values } = parse(args, {
    nodes: { type: 'string' }, dir: { type: 'string' }, out: { type: 'string' }, keep: { type: 'boolean' }, 'no-kill': { type: 'boolean' }
  }, usage)
  const n = parseNumber(values.nodes ?? '4', '--nodes', 3, 16)!
  const dir = values.dir != null ? resolve(values.dir) : await mkdtemp(join(tmpdir(), 'webfabric-demo-'))
  const outDir = resolve(values.out ?? 'webfabric-demo')
  const t0 = performance.now()
  const secs = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`
  const say = (line: string): void => console.log(`[${secs()}] ${line}`)
  const saboteur = `node-${n}`
  const victim = `node-${n - 1}`
  const mandelbrot = await import('../../../../examples/mandelbrot/index.ts')
  const { compileTask } = await import('@webfabric/sdk')

  console.log(`Web Fabric demo: a rendezvous (also the compute coordinator) and ${n} worker nodes, each its own process.`)
  console.log(`${saboteur} is a saboteur: it returns wrong results. ${values['no-kill'] === true ? '' : `${victim} will be killed with SIGKILL mid-job.`}\n`)
  const fabric = await startLocalFabric({ dir, nodes: n, intervalMs: 250, ttlMs: 2500, slots: 1, saboteurs: [saboteur], log: l => say(l) })
  const total = fabric.file.nodes.length
  const coordinator = await connectNode(dir, 'rendezvous')
  try {
    // 1. membership converges
    let view: MemberSummary[] = []
    for (let i = 0; i < 120; i++) {
      view = await coordinator.api.members()
      if (view.length === total) break
      await sleep(250)
    }
    say(`membership: the coordinator sees ${view.length}/${total} members`)
    for (const m of view) console.log(`      ${m.peerId}  ${m.roles.join(',')}${m.self ? '  (self)' : ''}`)

    // 2. the task: AssemblyScript compiled to a metered, deterministic wasm module
    const module = await compileTask(mandelbrot.TASK_SOURCE)
    const { width, height, tileSize } = mandelbrot.DEMO
    const inputs = mandelbrot.tiles(width, height, tileSize)
    say(`compiled examples/mandelbrot (${module.byteLength} bytes of wasm); ${inputs.length} tiles of ${tileSize[0]}x${tileSize[1]} for a ${width}x${height} image`)

    // 3. the job, with a worker killed once a third of it is done
    const victimEntry = fabric.file.nodes.find(x => x.name === victim)!
    let killed = values['no-kill'] === true
    let killedAt = 0
    const tty = process.stdout.isTTY === true
    let lastLine = 0
    const started = performance.now()
    say('running the job: every tile needs 2 matching results from different workers (the manifest\'s policy)')
    const report = await coordinator.api.submitJob({ module, inputs, name: 'mandelbrot' }, (p: JobProgress) => {
      if (!killed && p.done >= p.total / 3) {
        killed = true
        killedAt = performance.now()
        try { process.kill(victimEntry.pid, 'SIGKILL') } catch {}
        if (tty) process.stdout.write('\n')
        say(`killed ${victim} (pid ${victimEntry.pid}) with SIGKILL; its tasks go to others`)
      }
      if (tty) process.stdout.write(`\r      ${progressLine(p, started)}`)
      else if (performance.now() - lastLine > 1000 || p.done === p.total) { lastLine = performance.now(); console.log(`      ${progressLine(p, started)}`) }
    })
    if (tty) process.stdout.write('\n')
    say(`job done in ${(report.wallMs / 1000).toFixed(1)} s (wall): ${report.accepted}/${report.tasks.length} tiles accepted, ${report.failed} failed`)
    console.log(`      ${report.executions} executions by workers + ${report.verifications} spot-check(s) on the coordinator = ${report.overhead.toFixed(2)} per tile`)

    // 4. trust: every accepted tile must equal a local reference render
    let wrong = 0
    for (const t of report.tasks) {
      if (t.state !== 'accepted' || t.output == null) continue
      const expected = mandelbrot.renderTile(inputs[t.index])
      if (Buffer.compare(Buffer.from(expected), Buffer.from(t.output)) !== 0) wrong++
    }
    say(`checked every accepted tile against a local render: ${wrong === 0 ? 'all correct' : `${wrong} WRONG`}`)
    const saboteurPeer = fabric.file.nodes.find(x => x.name === saboteur)!.peerId
    const byzantineCaught = report.caught.includes(saboteurPeer) ? 1 : 0
    const honestCaught = report.caught.filter(p => p !== saboteurPeer)
    // a fabric directory used before (--dir) keeps the coordinator's reputations: the saboteur may be out already
    const earlier = byzantineCaught === 0 && ((await coordinator.api.stats()).coordinatorBlacklisted ?? 0) > 0
    const fate = byzantineCaught === 1 ? 'was caught (a wrong result proven) and blacklisted' : earlier ? 'was blacklisted in an earlier run (reputations kept in --dir)' : 'was NOT caught'
    console.log(`      ${report.rejectedResults} result(s) rejected; the byzantine node ${saboteur} ${fate}${honestCaught.length > 0 ? `; honest nodes blacklisted: ${honestCaught.join(', ')}` : ''}`)
    if (killedAt > 0) {
      let gone = false
      for (let i = 0; i < 100 && !gone; i++) {
        gone = !(await coordinator.api.members()).some(m => m.peerId === victimEntry.peerId)
        if (!gone) await sleep(100)
      }
      console.log(`      ${victim} ${gone ? 'has left the membership view' : 'is still in the view'} (TTL 2.5 s)`)
    }

    // 5. the picture and the summary
    await mkdir(outDir, { recursive: true })
    const names = inputs.map((_, i) => `tile-${String(i).padStart(3, '0')}`)
    const accepted = report.tasks.filter(t => t.output != null).map(t => ({ input: inputs[t.index], output: t.output! }))
    await writeFile(join(outDir, 'mandelbrot.png'), mandelbrot.assemble(accepted))
    await writeOutputs(join(outDir, 'tiles'), report, names) // per tile: its output, commitment, workers, fuel
    const summary: DemoSummary = {
      job: report.job,
      module: report.module,
      tasks: report.tasks.length,
      accepted: report.accepted,
      failed: report.failed,
      executions: report.executions,
      verifications: report.verifications,
      overhead: Number(report.overhead.toFixed(3)),
      rejectedResults: report.rejectedResults,
      byzantineCaught,
      byzantine: [{ node: saboteur, peerId: saboteurPeer, caught: byzantineCaught === 1 }],
      honestCaught: honestCaught.length,
      wrongTiles: wrong,
      killed: killedAt > 0 ? victim : null,
      wallSeconds: Number((report.wallMs / 1000).toFixed(3)),
      tiles: 'tiles/summary.json'
    }
    await writeFile(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`)
    say(`wrote ${join(outDir, 'mandelbrot.png')} and ${join(outDir, 'summary.json')}`)

    // 6. what a participant sees: receipts of everything its device ran
    const honest = fabric.file.nodes.find(x => x.name === 'node-1')!
    const participant = await connectNode(dir, honest.name)
    const receipts = await participant.api.receipts({ job: report.job })
    participant.close()
    const acceptedReceipts = receipts.filter(r => r.accepted === true).length
    say(`node-1 holds ${receipts.length} signed receipt(s) for this job, ${acceptedReceipts} countersigned as accepted (see \`webfabric receipts\`)`)

    // 7. the picture goes into the fabric's storage: encrypted, three copies, and back byte for byte
    const png = mandelbrot.assemble(accepted)
    const writer = await coordinator.api.storagePut({ redundancy: { kind: 'replicas', r: 3 }, size: png.length })
    await writer.write(png)
    const stored = await writer.finish()
    const reader = await coordinator.api.storageGet(stored.cap)
    const parts: Uint8Array[] = []
    for (let piece = await reader.read(); piece != null; piece = await reader.read()) parts.push(piece)
    const back = Buffer.concat(parts)
    const same = back.length === png.length && Buffer.from(png).equals(back)
    say(`stored mandelbrot.png on the fabric (encrypted, 3 copies on ${stored.holders.length} nodes) and read it back: ${same ? 'byte-identical' : 'DIFFERENT'}`)
    console.log(`      read capability (keep it to read the file; \`webfabric get CAP\`): ${stored.cap}`)

    console.log(`\ndone in ${secs()}.${values.keep === true ? ` The fabric keeps running; try \`webfabric ls --fabric ${dir}\`. Ctrl-C stops it.` : ''}`)
    if (values.keep === true) {
      await new Promise<void>(r => { process.once('SIGINT', r); process.once('SIGTERM', r) })
    }
    return report.failed === 0 && wrong === 0 && honestCaught.length === 0 && same ? 0 : 1
  } finally {
    coordinator.close()
    await fabric.stop()
    if (values.dir == null && values.keep !== true) await rm(dir, { recursive: true, force: true })
  }
}
