// Real processes: `webfabric up` starts a rendezvous and 5 nodes as separate
// OS processes; the other CLI commands talk to them through fabric.json.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { membershipBounds } from '@webfabric/membership'
import { BIN, type FabricJson, cliFails, runCli, startUp, stopUp } from './fixtures.ts'

const TTL_MS = 2000
const INTERVAL_MS = 250

async function cli (...args: string[]): Promise<string> {
  return (await runCli(args, 30_000)).stdout
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('webfabric up --nodes 5 (real processes)', () => {
  let dir: string
  let up: ChildProcess
  let fabric: FabricJson

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wf-cli-'))
    ;({ up, fabric } = await startUp(dir, ['--nodes', '5', '--interval', String(INTERVAL_MS), '--ttl', String(TTL_MS)]))
  })

  after(async () => {
    await stopUp(up)
    await rm(dir, { recursive: true, force: true })
  })

  it('fabric.json lists the rendezvous and 5 nodes with pids and admin endpoints', () => {
    assert.equal(fabric.nodes.length, 6)
    assert.equal(fabric.nodes.filter(n => n.roles.includes('rendezvous')).length, 1)
    for (const n of fabric.nodes) assert.ok(n.pid > 0 && n.peerId.length > 0)
  })

  it('ls --json shows the 5 members plus the rendezvous, marked by its role', async () => {
    let members: Array<{ peerId: string, roles: string[], addrs: string[], lastSeen: number }> = []
    for (let i = 0; i < 100 && members.length !== 6; i++) {
      members = JSON.parse(await cli('ls', '--json', '--fabric', dir))
      if (members.length !== 6) await sleep(200)
    }
    assert.equal(members.length, 6)
    assert.deepEqual(new Set(members.map(m => m.peerId)), new Set(fabric.nodes.map(n => n.peerId)))
    const rv = members.filter(m => m.roles.includes('rendezvous'))
    assert.equal(rv.length, 1)
    assert.equal(rv[0].peerId, fabric.nodes.find(n => n.name === 'rendezvous')!.peerId)
    for (const m of members) {
      assert.ok(Array.isArray(m.addrs) && m.addrs.length > 0)
      assert.equal(typeof m.lastSeen, 'number')
    }
  })

  it('a message published on one node reaches subscribers on all the others', async () => {
    const others = fabric.nodes.filter(n => n.name !== 'node-1')
    const subs = others.map(n => spawn(process.execPath, [BIN, 'sub', 'chat', '--count', '1', '--json', '--fabric', dir, '--node', n.name], { stdio: ['ignore', 'pipe', 'inherit'] }))
    const received = subs.map(s => new Promise<string>((resolve, reject) => {
      let subscribed = false
      createInterface({ input: s.stdout! }).on('line', line => {
        const ev = JSON.parse(line)
        if (ev.event === 'subscribed') subscribed = true
        else resolve(ev.data)
      })
      s.once('exit', code => { if (!subscribed || code !== 0) reject(new Error(`sub exited with ${code}`)) })
    }))
    let all = false
    void Promise.all(received).then(() => { all = true })
    // gossipsub meshes form over a heartbeat or two; publish until everyone has it
    for (let i = 0; i < 40 && !all; i++) {
      await cli('pub', 'chat', 'hello fabric', '--fabric', dir, '--node', 'node-1')
      await sleep(500)
    }
    const texts = await Promise.all(received)
    assert.deepEqual(texts, others.map(() => 'hello fabric'))
  })

  it('a node holding no capability for a topic cannot publish on it', async () => {
    const outsiderDir = join(dir, 'outsider')
    const key = join(dir, 'origin.json')
    const did = JSON.parse(await cli('id', '--dir', outsiderDir, '--origin', fabric.origin, '--json')).did
    await cli('cap', 'issue', '--key', key, '--to', did, '--resource', 'fabric/membership', '--ability', 'membership/gossip', '--out', join(dir, 'outsider-m.json'))
    await cli('cap', 'issue', '--key', key, '--to', did, '--resource', 'topic/other', '--ability', 'pubsub/*', '--out', join(dir, 'outsider-t.json'))
    const outsider = spawn(process.execPath, [BIN, 'start', '--dir', outsiderDir, '--manifest', fabric.manifest, '--credentials', join(dir, 'outsider-m.json'), '--credentials', join(dir, 'outsider-t.json'), '--allow-loopback', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: outsider.stdout! }).on('line', line => { if (line.includes('"event":"ready"')) resolve() })
        outsider.once('exit', code => reject(new Error(`outsider exited with ${code}`)))
      })
      const refused = await cliFails('pub', 'chat', 'let me in', '--node-dir', outsiderDir)
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /MissingAbilityError/)
      // its own topic works
      await cli('pub', 'other', 'fine', '--node-dir', outsiderDir)
    } finally {
      outsider.kill('SIGKILL')
    }
  })

  it('kill -9 of a node removes it from every surviving view within TTL + the membership bound B', async () => {
    const victim = fabric.nodes.find(n => n.name === 'node-5')!
    process.kill(victim.pid, 'SIGKILL')
    const killedAt = Date.now()
    const survivors = ['node-1', 'node-2', 'rendezvous']
    const goneAt = new Map<string, number>()
    // the membership package's stated bound for this fabric (6 members, loopback latency
    // well under 100 ms), plus what polling three nodes through the CLI costs
    const { goneMs } = membershipBounds({ n: fabric.nodes.length, intervalMs: INTERVAL_MS, ttlMs: TTL_MS, maxLatencyMs: 100 })
    const POLL_SLACK_MS = 2000
    const deadline = killedAt + goneMs + POLL_SLACK_MS
    while (goneAt.size < survivors.length && Date.now() < deadline) {
      for (const name of survivors) {
        if (goneAt.has(name)) continue
        const members = JSON.parse(await cli('ls', '--json', '--fabric', dir, '--node', name)) as Array<{ peerId: string }>
        if (!members.some(m => m.peerId === victim.peerId)) goneAt.set(name, Date.now() - killedAt)
      }
      await sleep(100)
    }
    assert.equal(goneAt.size, survivors.length, `still in some views: ${survivors.filter(s => !goneAt.has(s)).join(', ')}`)
    // a suspected member gets a full TTL to refute before it is removed
    for (const [, ms] of goneAt) assert.ok(ms >= TTL_MS, `removed after ${ms} ms, sooner than the TTL allows`)
  })

  it('lease revoke: the revocation is gossiped to the others and the node leaves the fabric', async () => {
    const leases = JSON.parse(await cli('lease', 'show', '--json', '--fabric', dir)) as Array<{ node: string, id: string, kind: string, revoked: boolean }>
    assert.ok(fabric.nodes.every(n => n.name === 'node-5' || leases.some(l => l.node === n.name)), 'every live node granted the origin a lease')
    const lease = leases.find(l => l.node === 'node-4')!
    assert.equal(lease.revoked, false)
    const leaver = fabric.nodes.find(n => n.name === 'node-4')!
    const out = JSON.parse(await cli('lease', 'revoke', lease.id, '--json', '--fabric', dir))
    assert.equal(out.node, 'node-4')
    // the node withdraws: its process ends and it leaves the others' views
    let gone = false
    for (let i = 0; i < 100 && !gone; i++) {
      await sleep(200)
      const members = JSON.parse(await cli('ls', '--json', '--fabric', dir, '--node', 'node-1')) as Array<{ peerId: string }>
      gone = !members.some(m => m.peerId === leaver.peerId)
    }
    assert.ok(gone, 'node-4 still in node-1\'s view')
    let exited = false
    for (let i = 0; i < 50 && !exited; i++) {
      try { process.kill(leaver.pid, 0); await sleep(100) } catch { exited = true }
    }
    assert.ok(exited, 'node-4 still running after revoking its lease')
    // the revocation reached the others through the revocation feed
    let held = 0
    for (let i = 0; i < 50 && held === 0; i++) {
      held = JSON.parse(await cli('status', '--json', '--fabric', dir, '--node', 'node-1')).stats.revocations
      if (held === 0) await sleep(100)
    }
    assert.equal(held, 1)
  })

  it('commands that need a fabric say what to do when there is none', async () => {
    const r = await cliFails('ls', '--fabric', join(dir, 'nowhere'))
    assert.equal(r.code, 1)
    assert.match(r.stderr, /webfabric up/)
    const u = await cliFails('frobnicate')
    assert.equal(u.code, 2)
  })
})
