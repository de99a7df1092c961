// The main job (`npm start`): an embedded local fabric that shows the
// foundation at work — nodes join, a capability-guarded topic carries
// messages to every node, one node is killed and leaves every view.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { MemberSummary } from '@webfabric/runtime/admin'
import { parse, parseNumber } from '../cli-util.ts'
import { connectNode } from '../fabric-file.ts'
import { startLocalFabric } from '../local-fabric.ts'

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))

export async function demo (args: string[]): Promise<number> {
  const usage = 'webfabric demo [--nodes N] [--dir D] [--keep]\n  start a local fabric, show membership, pub-sub and failure detection; --keep leaves it running'
  const { values } = parse(args, { nodes: { type: 'string' }, dir: { type: 'string' }, keep: { type: 'boolean' } }, usage)
  const n = parseNumber(values.nodes ?? '4', '--nodes', 2, 16)!
  const dir = values.dir != null ? resolve(values.dir) : await mkdtemp(join(tmpdir(), 'webfabric-demo-'))
  const t0 = performance.now()
  const secs = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`
  console.log(`Web Fabric demo: a rendezvous and ${n} nodes, each its own process, in ${dir}\n`)
  const fabric = await startLocalFabric({ dir, nodes: n, intervalMs: 250, ttlMs: 2500, log: l => console.log(`  [${secs()}] ${l}`) })
  const total = fabric.file.nodes.length
  try {
    // 1. membership converges
    const first = await connectNode(dir, 'node-1')
    let view: MemberSummary[] = []
    for (let i = 0; i < 120; i++) {
      view = await first.api.members()
      if (view.length === total) break
      await sleep(250)
    }
    console.log(`\n[${secs()}] membership: node-1 sees ${view.length}/${total} members`)
    for (const m of view) console.log(`    ${m.peerId}  ${m.roles.join(',')}${m.self ? '  (self)' : ''}`)

    // 2. pub-sub under capabilities
    const subs = await Promise.all(fabric.file.nodes.filter(x => x.name !== 'node-1' && x.name !== 'rendezvous').map(async x => await connectNode(dir, x.name)))
    const got = new Map<string, number>()
    const cancels = await Promise.all(subs.map(async s => await s.api.subscribe('demo', () => { got.set(s.node.name, (got.get(s.node.name) ?? 0) + 1) })))
    await sleep(1500) // let gossipsub meshes form
    for (let i = 0; i < 5; i++) await first.api.publish('demo', `hello ${i} from node-1`)
    for (let i = 0; i < 40 && [...got.values()].reduce((a, b) => a + b, 0) < 5 * subs.length; i++) await sleep(100)
    console.log(`\n[${secs()}] pub-sub: node-1 published 5 messages on "demo" (capability-checked on every hop)`)
    for (const s of subs) console.log(`    ${s.node.name} received ${got.get(s.node.name) ?? 0}/5`)
    for (const c of cancels) await c.cancel().catch(() => {})

    // 3. failure detection
    const victim = fabric.file.nodes[fabric.file.nodes.length - 1]
    process.kill(victim.pid, 'SIGKILL')
    const killedAt = performance.now()
    console.log(`\n[${secs()}] killed ${victim.name} (pid ${victim.pid}) with SIGKILL`)
    let gone = false
    for (let i = 0; i < 200 && !gone; i++) {
      await sleep(100)
      gone = !(await first.api.members()).some(m => m.peerId === victim.peerId)
    }
    console.log(`[${secs()}] ${gone ? `${victim.name} left node-1's view after ${((performance.now() - killedAt) / 1000).toFixed(1)} s (TTL 2.5 s)` : `${victim.name} is still in the view`}`)
    for (const s of subs) s.close()
    first.close()
    console.log(`\ndone in ${secs()}.${values.keep === true ? ` The fabric keeps running; try \`webfabric ls --fabric ${dir}\`. Ctrl-C stops it.` : ''}`)
    if (values.keep === true) {
      await new Promise<void>(r => { process.once('SIGINT', r); process.once('SIGTERM', r) })
    }
    return gone ? 0 : 1
  } finally {
    await fabric.stop()
    if (values.dir == null && values.keep !== true) await rm(dir, { recursive: true, force: true })
  }
}
