// WebFabricGossip in the deterministic simulator at 100, 1,000 and 10,000
// nodes: time until every view is complete, steady-state messages, records
// and bytes per node per second, and the wall time each simulation took.
//
//   node bench/membership.ts [--json] [--sizes 100,1000,10000] [--loss 0.01] [--seed 1]
//
// Each size runs in its own child process (own heap, larger limit for 10,000).
// Baseline, computed for the same N and period: all-to-all heartbeats cost
// N−1 messages per node per period; gossip-style heartbeating (a full
// heartbeat table to one random peer per period) costs N records per node per
// period. Bytes are DAG-CBOR sizes estimated from a realistic heartbeat
// (Ed25519 peer ids, 64-byte signatures, two multiaddrs), not the short ids
// the simulation uses.
import { spawnSync } from 'node:child_process'
import * as dagCbor from '@ipld/dag-cbor'
import { defaults, type MembershipMessage } from '../packages/membership/src/index.ts'
import { GossipHarness } from '../packages/membership/test/fixtures/sim-gossip.ts'

interface Result {
  n: number
  loss: number
  seed: number
  // nodes start uniformly over this many virtual seconds
  bootS: number
  // virtual seconds from the last node's start until every view was complete
  convergeS: number | null
  // steady-state window (virtual s) and per node per second figures in it
  windowS: number
  msgsPerNodeS: number
  recordsPerNodeS: number
  bytesPerNodeS: number
  // analytic baselines for the same N and period
  allToAllMsgsPerNodeS: number
  fullTableRecordsPerNodeS: number
  wallS: number
  events: number
  rssMB: number
}

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

// nodes start uniformly over the boot: 10 s, or 5 ms per node (at most 200
// joins per second) for large fabrics
const bootMs = (n: number): number => Math.max(10_000, 5 * n)
const SEEDS = ['n0', 'n1', 'n2']
const LATENCY = { min: 5, max: 50 }

// Realistic wire sizes, measured by encoding once.
const PEER = '12D3KooWGRUVh7bVdkCdQpLBk1kPzuBYHMrXzwdXTz4rFVCi5hqN'
const REAL_BODY = {
  peer: PEER,
  inc: 1_763_700_000_000,
  seq: 12,
  status: 'alive',
  roles: ['compute', 'storage'],
  capacity: { cpu: 4, memMB: 4096 },
  load: { cpu: 0.25 },
  addrs: ['/ip4/192.168.1.20/tcp/4001', `/ip4/192.168.1.20/tcp/4002/ws/p2p/${PEER}`]
}
const HB_BYTES = dagCbor.encode({ body: REAL_BODY, sig: new Uint8Array(64) }).length
const VERSION_BYTES = dagCbor.encode({ peer: PEER, inc: REAL_BODY.inc, seq: 12 }).length
const PEER_BYTES = dagCbor.encode(PEER).length
const ENVELOPE: Record<string, number> = {}
for (const type of ['ping', 'ack', 'ping-req', 'gossip', 'sync', 'sync-summary', 'sync-push']) {
  ENVELOPE[type] = dagCbor.encode({ type, nonce: 4_000_000_000, target: PEER, heartbeats: [], suspects: [], buckets: 1024, cover: [], have: [], need: [], digest: [] }).length
}

function bytesOf (m: MembershipMessage): number {
  let b = ENVELOPE[m.type] + m.heartbeats.length * HB_BYTES + m.suspects.length * VERSION_BYTES
  if (m.type === 'sync') b += m.digest.length * 5
  if (m.type === 'sync-summary') b += m.have.length * VERSION_BYTES + m.cover.length * 3
  if (m.type === 'sync-push') b += m.need.length * PEER_BYTES
  return b
}

function recordsOf (m: MembershipMessage): number {
  let r = m.heartbeats.length + m.suspects.length
  if (m.type === 'sync-summary') r += m.have.length
  if (m.type === 'sync-push') r += m.need.length
  return r
}

// Wall time between progress lines on stderr (a long run shows it is alive).
const PROGRESS_MS = 30_000

function runOne (n: number, loss: number, seed: number): Result {
  const t0 = performance.now()
  let rss = 0
  let lastProgress = t0
  const progress = (phase: string): void => {
    const t = performance.now()
    if (t - lastProgress < PROGRESS_MS) return
    lastProgress = t
    const mem = process.memoryUsage().rss
    rss = Math.max(rss, mem)
    process.stderr.write(`membership n=${n}: ${phase}, virtual ${(h.sim.now() / 1000).toFixed(1)} s, ${h.sim.events} events, RSS ${Math.round(mem / 1e6)} MB, wall ${Math.round((t - t0) / 1000)} s\n`)
  }
  // runs to virtual time `until` in 1 s steps (the same events as one run)
  const runTo = (until: number, phase: string): void => {
    while (h.sim.now() < until) {
      h.sim.run(Math.min(until, h.sim.now() + 1000))
      progress(phase)
    }
  }
  let records = 0
  let bytes = 0
  let counting = false
  const h = new GossipHarness(seed, { seeds: SEEDS }, { loss, latency: LATENCY }, false, recordsOf)
  // no crashes here, so a view is complete when it has n members: skip the
  // per-effect bookkeeping the tests use
  h.hooks.onEffect = undefined
  h.hooks.inspect = (m) => {
    if (!counting) return
    records += recordsOf(m)
    bytes += bytesOf(m)
  }
  const boot = bootMs(n)
  for (let i = 0; i < n; i++) h.sim.at(Math.floor(i * boot / n), () => h.add(`n${i}`))
  runTo(boot, 'boot')
  const every = n >= 10_000 ? 500 : 100
  const done = h.sim.runUntil(() => {
    progress('converging')
    rss = Math.max(rss, process.memoryUsage().rss)
    for (const id of h.liveIds()) if (h.sim.node(id).core.size !== n) return false
    return true
  }, 300_000, every)
  // let the join wave's queues drain, then measure a quiet window
  const warm = n >= 10_000 ? 10_000 : 20_000
  const window = n >= 10_000 ? 10_000 : 30_000
  runTo(h.sim.now() + warm, 'warm-up')
  h.sim.resetMetrics()
  counting = true
  runTo(h.sim.now() + window, 'window')
  counting = false
  rss = Math.max(rss, process.memoryUsage().rss)
  const perNodeS = (x: number): number => Math.round(x / n / (window / 1000) * 100) / 100
  const interval = defaults.INTERVAL_MS / 1000
  return {
    n,
    loss,
    seed,
    bootS: boot / 1000,
    convergeS: done === undefined ? null : (done - boot) / 1000,
    windowS: window / 1000,
    msgsPerNodeS: perNodeS(h.sim.totals.sent),
    recordsPerNodeS: perNodeS(records),
    bytesPerNodeS: perNodeS(bytes),
    allToAllMsgsPerNodeS: (n - 1) / interval,
    fullTableRecordsPerNodeS: n / interval,
    wallS: Math.round((performance.now() - t0) / 100) / 10,
    events: h.sim.events,
    rssMB: Math.round(rss / 1e6)
  }
}

const child = flag('--child')
if (child !== undefined) {
  const r = runOne(Number(child), Number(flag('--loss') ?? 0.01), Number(flag('--seed') ?? 1))
  process.stdout.write(`${JSON.stringify(r)}\n`)
} else {
  const sizes = (flag('--sizes') ?? '100,1000,10000').split(',').map(Number)
  const loss = flag('--loss') ?? '0.01'
  const seed = flag('--seed') ?? '1'
  const json = args.includes('--json')
  const results: Result[] = []
  for (const n of sizes) {
    const heap = n >= 10_000 ? ['--max-old-space-size=16000'] : []
    const r = spawnSync(process.execPath, [...heap, import.meta.filename, '--child', String(n), '--loss', loss, '--seed', seed], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] })
    if (r.status !== 0) {
      console.error(`size ${n} failed (exit ${r.status ?? r.signal})`)
      process.exit(1)
    }
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as Result
    results.push(res)
    if (!json) {
      if (results.length === 1) {
        console.log(`WebFabricGossip in the simulator: loss ${loss}, latency ${LATENCY.min}–${LATENCY.max} ms, seed ${seed}; nodes start over max(10 s, 5 ms × N)`)
        console.log(`period ${defaults.INTERVAL_MS} ms, ttl ${defaults.TTL_MS} ms, sync ${defaults.SYNC_MS} ms, fanout ${defaults.FANOUT}; bytes: DAG-CBOR estimate, ${HB_BYTES} B per heartbeat`)
        console.log('')
        console.log('     N  converge(s)  msgs/node/s  records/node/s  bytes/node/s | all-to-all msgs  full-table recs |   wall(s)  events      RSS(MB)')
      }
      const f = (x: number | null, w: number): string => String(x ?? '—').padStart(w)
      console.log(`${f(res.n, 6)}  ${f(res.convergeS, 11)}  ${f(res.msgsPerNodeS, 11)}  ${f(res.recordsPerNodeS, 14)}  ${f(res.bytesPerNodeS, 12)} | ${f(res.allToAllMsgsPerNodeS, 15)}  ${f(res.fullTableRecordsPerNodeS, 15)} | ${f(res.wallS, 8)}  ${f(res.events, 10)}  ${f(res.rssMB, 8)}`)
    }
  }
  if (json) console.log(JSON.stringify({ bench: 'membership', loss: Number(loss), seed: Number(seed), latencyMs: LATENCY, heartbeatBytes: HB_BYTES, results }, null, 2))
}
