// Pub-sub on 10 real nodes on loopback, 1 KiB messages: capability-guarded
// FabricNode topics ("ours") beside plain @libp2p/gossipsub nodes ("plain")
// measured in the same run, on the identical libp2p assembly (createHost).
//
//   npx node bench/pubsub.ts [--messages 3000] [--window 8] [--rounds 3]
//                            [--warmup 300] [--probe 200] [--only plain|ours]
//                            [--membership-ms 1000] [--idle-cpu 10] [--json]
//
// One publisher (node 0) and 9 subscribers, every node connected to every
// other (a full mesh of 45 TCP connections: FabricNodes' membership gossip
// dials its members anyway, so this is the one topology both sides keep).
// Nodes subscribe one at a time, so the gossipsub meshes form alike.
// The publisher keeps at most `window` messages in flight: a message is in
// flight until all 9 subscribers delivered it (or LOSS_TIMEOUT_MS passed),
// and the next publish waits for a free slot. Each payload carries its
// sequence number and its send time (performance.now(), same process); every
// subscriber records the latency of every delivery. After the loaded phase,
// `probe` messages go out one at a time for the latency of an idle fabric.
// Runs alternate (plain, ours, ours, plain, …) on fresh nodes; the summary is
// the median over the rounds. Ours run the membership protocol beside pub-sub,
// as every fabric node does, with a round of `membership-ms` (TTL 10x that).
// Before publishing, each run measures the process's CPU per second over
// `idle-cpu` seconds of silence: each side's fixed cost (gossipsub heartbeats;
// for ours also membership), which a CPU-bound run pays beside its messages.
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
// the host assembly alone, so the baseline runs even when the rest of the runtime does not load
import { type Host, createHost } from '../packages/runtime/src/host.ts'
import { fmt, median, percentile, table } from './lib/stats.ts'

const NODES = 10
const SUBSCRIBERS = NODES - 1
const PAYLOAD_BYTES = 1024
const TOPIC = 'bench'
/** gossipsub's lower bound on a topic mesh (GossipsubDlo): below it a node grafts more peers */
const MESH_DLO = 4
/** a message not delivered to every subscriber this long after its publish counts as lost */
const LOSS_TIMEOUT_MS = 10_000
const GOAL = 0.9

type Side = 'plain' | 'ours'

/** Ten started nodes, connected and subscribed; node 0 publishes. */
interface Cluster {
  side: Side
  publish: (data: Uint8Array) => Promise<void>
  /** Call `cb(subscriber, data)` for each delivery at subscribers 1..9. */
  onDeliver: (cb: (subscriber: number, data: Uint8Array) => void) => void
  /** libp2p hosts, index 0 = publisher */
  hosts: Host[]
  /** the gossipsub topic the messages travel on */
  gossipTopic: string
  /** messages refused by topic validators, summed over the nodes (ours only) */
  rejected?: () => number
  /** messages dropped because their capability could not be obtained, summed (ours only; expect 0) */
  unverified?: () => number
  /** capabilities fetched by reference, summed over the nodes (ours only) */
  capsFetched?: () => number
  stop: () => Promise<void>
}

interface RunResult {
  side: Side
  round: number
  messages: number
  deliveries: number
  /** deliveries given up after LOSS_TIMEOUT_MS (after the warm-up) */
  lost: number
  /** deliveries of a message a subscriber already delivered (gossipsub dedups: expect 0) */
  duplicates: number
  seconds: number
  messagesPerSec: number
  deliveriesPerSec: number
  /** CPU time of the whole process (all 10 nodes, every thread) per message delivered to all 9, loaded phase */
  cpuMsPerMessage: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** latency of the probe messages, published one at a time after the loaded phase */
  idleP50Ms: number
  idleP99Ms: number
  /** CPU the process spent per second while the 10 nodes sat idle (no publishing) for `idle-cpu` seconds: the fixed cost of each side */
  idleCpuMsPerSec: number
  connections: number
  /** gossipsub mesh links on the topic (sum of every node's mesh degree / 2) */
  meshLinks: number
  /** the publisher's mesh degree */
  publisherMesh: number
  rejected?: number
  unverified?: number
  capsFetched?: number
  /** the machine's 1-minute load average when the run ended (2 cores: above 2, others compete for the CPU) */
  load: number
}

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '300' },
    'idle-cpu': { type: 'string', default: '10' },
    window: { type: 'string', default: '8' },
    probe: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    'membership-ms': { type: 'string', default: '1000' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false }
  }
})
const config = {
  messages: positiveInt('messages', args.messages),
  warmup: positiveInt('warmup', args.warmup, true),
  window: positiveInt('window', args.window),
  probe: positiveInt('probe', args.probe, true),
  rounds: positiveInt('rounds', args.rounds),
  membershipMs: positiveInt('membership-ms', args['membership-ms']),
  idleCpuSeconds: positiveInt('idle-cpu', args['idle-cpu'], true)
}
const only = args.only as Side | undefined
if (only != null && only !== 'plain' && only !== 'ours') fail('--only takes plain or ours')

function positiveInt (name: string, v: string | undefined, zeroOk = false): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1)) fail(`--${name} must be a ${zeroOk ? 'non-negative' : 'positive'} integer, got ${v}`)
  return n
}

function fail (msg: string): never {
  console.error(`bench/pubsub: ${msg}`)
  process.exit(2)
}

const progress = (msg: string): void => { console.error(`[pubsub] ${msg}`) }
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** The gossipsub mesh of `topic` at `host` (on the implementation, not on the exported GossipSub interface). */
function meshOf (host: Host, topic: string): string[] {
  return (host.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(topic)
}

/** Dial every pair once (j < i), over TCP. */
async function connectFullMesh (hosts: Host[]): Promise<void> {
  for (let i = 1; i < hosts.length; i++) {
    for (let j = 0; j < i; j++) await hosts[i].dial(hosts[j].getMultiaddrs()[0])
  }
}

/**
 * Subscribe the nodes one after another, each once every other node has seen
 * the previous one's subscription: the mesh then forms the same way on both
 * sides (subscribing all at once leaves meshes at Dlo, one by one near D).
 */
async function subscribeInTurn (hosts: Host[], gossipTopic: string, subscribe: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < hosts.length; i++) {
    await subscribe(i)
    const id = hosts[i].peerId
    await waitFor(`node ${i}'s subscription to reach every node`, () =>
      hosts.every((h, j) => j === i || h.services.pubsub.getSubscribers(gossipTopic).some(p => p.equals(id))))
  }
}

// -- plain: @libp2p/gossipsub on createHost ---------------------------------

async function plainCluster (): Promise<Cluster> {
  const hosts: Host[] = []
  for (let i = 0; i < NODES; i++) {
    const host = await createHost({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allowLoopback: true })
    await host.start()
    hosts.push(host)
  }
  await connectFullMesh(hosts)
  await subscribeInTurn(hosts, TOPIC, async i => { hosts[i].services.pubsub.subscribe(TOPIC) })
  return {
    side: 'plain',
    hosts,
    gossipTopic: TOPIC,
    publish: async data => { await hosts[0].services.pubsub.publish(TOPIC, data) },
    onDeliver: cb => {
      hosts.forEach((h, i) => {
        if (i === 0) return
        h.services.pubsub.addEventListener('message', (evt: CustomEvent<Message>) => {
          if (evt.detail.topic === TOPIC) cb(i, evt.detail.data)
        })
      })
    },
    stop: async () => { for (const h of hosts) await h.stop() }
  }
}

// -- ours: FabricNodes with capability-guarded topics -----------------------

async function oursCluster (): Promise<Cluster> {
  const { makeOrigin, startNode } = await import('../packages/runtime/test/fixtures.ts')
  const origin = await makeOrigin()
  const nodes: Awaited<ReturnType<typeof startNode>>[] = []
  let gossipTopic = ''
  const common = { listen: ['/ip4/127.0.0.1/tcp/0'], membership: { intervalMs: config.membershipMs, ttlMs: 10 * config.membershipMs }, admin: false as const }
  try {
    nodes.push(await startNode(origin, { ...common, bootstrap: [] }))
    const seed = nodes[0].addrs()
    for (let i = 1; i < NODES; i++) nodes.push(await startNode(origin, { ...common, bootstrap: seed }))
    const hosts = nodes.map(n => n.host)
    gossipTopic = nodes[0].pubsub.gossipTopic(TOPIC)
    await connectFullMesh(hosts)
    await subscribeInTurn(hosts, gossipTopic, async i => { await nodes[i].pubsub.subscribe(TOPIC) })
  } catch (err) {
    for (const n of nodes) await n.stop().catch(() => {})
    await origin.cleanup()
    throw err
  }
  return {
    side: 'ours',
    hosts: nodes.map(n => n.host),
    gossipTopic,
    publish: async data => { await nodes[0].pubsub.publish(TOPIC, data) },
    onDeliver: cb => {
      nodes.forEach((n, i) => {
        if (i === 0) return
        n.pubsub.addEventListener('message', evt => {
          const m = (evt as CustomEvent<{ topic: string, data: Uint8Array }>).detail
          if (m.topic === TOPIC) cb(i, m.data)
        })
      })
    },
    rejected: () => nodes.reduce((sum, n) => sum + n.pubsub.rejected, 0),
    unverified: () => nodes.reduce((sum, n) => sum + n.pubsub.unverified, 0),
    capsFetched: () => nodes.reduce((sum, n) => sum + n.pubsub.capsFetched, 0),
    stop: async () => {
      for (const n of nodes) await n.stop()
      await origin.cleanup()
    }
  }
}

// -- the measurement, identical for both sides --------------------------------

/** Wait until the publisher knows all 9 subscribers and every node's mesh is formed, then two more heartbeats. */
async function warmMesh (c: Cluster): Promise<void> {
  const ps = c.hosts.map(h => h.services.pubsub)
  await waitFor('every node connected to every other', () => c.hosts.every(h => h.getPeers().length === NODES - 1))
  await waitFor('the publisher to see 9 subscribers', () => ps[0].getSubscribers(c.gossipTopic).length === SUBSCRIBERS)
  await waitFor('every mesh at degree Dlo or more', () => c.hosts.every(h => meshOf(h, c.gossipTopic).length >= MESH_DLO))
  await sleep(2000)
}

/**
 * Publish the warm-up, the measured messages (at most `window` in flight) and
 * the probe messages (one at a time), recording every delivery's latency.
 */
async function measure (c: Cluster, round: number): Promise<RunResult> {
  const { warmup, messages, probe, window } = config
  const loadedEnd = warmup + messages
  const total = loadedEnd + probe
  const seen = Array.from({ length: NODES }, () => new Uint8Array(total))
  const loaded: number[] = []
  const idle: number[] = []
  /** seq → { deliveries still due, send time } */
  const inFlight = new Map<number, { due: number, sentAt: number }>()
  let duplicates = 0
  let lost = 0
  let lastDelivery = 0
  let wake: (() => void) | undefined

  c.onDeliver((sub, data) => {
    const now = performance.now()
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
    const seq = view.getUint32(0)
    if (data.byteLength !== PAYLOAD_BYTES || seq >= total) return
    if (seen[sub][seq] === 1) { duplicates++; return }
    seen[sub][seq] = 1
    const latency = now - view.getFloat64(4)
    if (seq >= loadedEnd) idle.push(latency)
    else if (seq >= warmup) { loaded.push(latency); lastDelivery = now }
    const f = inFlight.get(seq)
    if (f != null && --f.due === 0) {
      inFlight.delete(seq)
      wake?.()
    }
  })

  /** Wait until fewer than `limit` messages are in flight, expiring lost ones. */
  const drainTo = async (limit: number): Promise<void> => {
    while (inFlight.size >= limit) {
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, 100)
        wake = () => { clearTimeout(t); resolve() }
      })
      wake = undefined
      const now = performance.now()
      for (const [seq, f] of inFlight) {
        if (now - f.sentAt > LOSS_TIMEOUT_MS) { lost += f.due; inFlight.delete(seq) }
      }
    }
  }

  const filler = new Uint8Array(PAYLOAD_BYTES)
  globalThis.crypto.getRandomValues(filler)
  let start = 0
  let end = 0
  let cpuStart = process.cpuUsage()
  let cpu = { user: 0, system: 0 }
  for (let seq = 0; seq < total; seq++) {
    if (seq === warmup) {
      await drainTo(1)
      lost = 0
      start = performance.now()
      cpuStart = process.cpuUsage()
    }
    if (seq === loadedEnd) {
      await drainTo(1)
      end = lost > 0 ? performance.now() : lastDelivery
      cpu = process.cpuUsage(cpuStart)
    }
    await drainTo(seq < loadedEnd ? window : 1)
    // a fresh buffer per message: gossipsub keeps published data in its message cache
    const data = filler.slice()
    const view = new DataView(data.buffer)
    view.setUint32(0, seq)
    const sentAt = performance.now()
    view.setFloat64(4, sentAt)
    inFlight.set(seq, { due: SUBSCRIBERS, sentAt })
    await c.publish(data)
  }
  await drainTo(1)
  if (probe === 0) {
    end = lost > 0 ? performance.now() : lastDelivery
    cpu = process.cpuUsage(cpuStart)
  }
  const seconds = (end - start) / 1000
  return {
    side: c.side,
    round,
    messages,
    deliveries: loaded.length,
    lost,
    duplicates,
    seconds,
    messagesPerSec: loaded.length / SUBSCRIBERS / seconds,
    deliveriesPerSec: loaded.length / seconds,
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / (loaded.length / SUBSCRIBERS),
    p50Ms: percentile(loaded, 50),
    p99Ms: percentile(loaded, 99),
    maxMs: percentile(loaded, 100),
    idleP50Ms: percentile(idle, 50),
    idleP99Ms: percentile(idle, 99),
    idleCpuMsPerSec: Number.NaN,
    connections: c.hosts.reduce((n, h) => n + h.getConnections().length, 0) / 2,
    load: loadavg()[0],
    meshLinks: c.hosts.reduce((n, h) => n + meshOf(h, c.gossipTopic).length, 0) / 2,
    publisherMesh: meshOf(c.hosts[0], c.gossipTopic).length
  }
}

/** CPU ms per second of the whole process while nothing is published (gossipsub heartbeats; ours also membership). */
async function idleCpu (): Promise<number> {
  if (config.idleCpuSeconds === 0) return Number.NaN
  const t = performance.now()
  const c = process.cpuUsage()
  await sleep(config.idleCpuSeconds * 1000)
  const used = process.cpuUsage(c)
  return (used.user + used.system) / 1000 / ((performance.now() - t) / 1000)
}

async function run (side: Side, round: number): Promise<RunResult> {
  progress(`round ${round}: starting 10 ${side} nodes`)
  const cluster = side === 'plain' ? await plainCluster() : await oursCluster()
  try {
    await warmMesh(cluster)
    progress(`round ${round}: ${side} mesh ready; publishing ${config.warmup} warm-up + ${config.messages} messages`)
    const idleCpuMsPerSec = await idleCpu()
    const r = await measure(cluster, round)
    r.idleCpuMsPerSec = idleCpuMsPerSec
    r.rejected = cluster.rejected?.()
    r.unverified = cluster.unverified?.()
    r.capsFetched = cluster.capsFetched?.()
    // everything a results table needs, so an interrupted invocation keeps its finished runs
    progress(`round ${round}: ${side} ${fmt(r.messagesPerSec, 1)} msgs/s, CPU ${fmt(r.cpuMsPerMessage, 2)} ms/msg, p50 ${fmt(r.p50Ms, 1)} ms, p99 ${fmt(r.p99Ms, 1)} ms, idle CPU ${fmt(r.idleCpuMsPerSec, 0)} ms/s, lost ${r.lost}, load ${fmt(r.load, 1)}`)
    return r
  } finally {
    await cluster.stop()
  }
}

// -- main ---------------------------------------------------------------------

const sides: Side[] = only != null ? [only] : ['plain', 'ours']
const runs: RunResult[] = []
let error: string | undefined
outer: for (let round = 1; round <= config.rounds; round++) {
  // alternate the order each round (plain, ours, ours, plain, …) against order effects
  const order = round % 2 === 1 ? sides : [...sides].reverse()
  for (const side of order) {
    try {
      runs.push(await run(side, round))
    } catch (err) {
      error = `${side} run ${round} failed: ${(err as Error).stack ?? err}`
      progress(error)
      break outer
    }
  }
}

/** Medians over a side's runs (lost: summed). */
interface Summary {
  runs: number
  messagesPerSec: number
  deliveriesPerSec: number
  cpuMsPerMessage: number
  p50Ms: number
  p99Ms: number
  idleP50Ms: number
  idleP99Ms: number
  idleCpuMsPerSec: number
  lost: number
}
const summarize = (side: Side): Summary | undefined => {
  const rs = runs.filter(r => r.side === side)
  if (rs.length === 0) return undefined
  const med = (k: keyof RunResult): number => median(rs.map(r => r[k] as number))
  return {
    runs: rs.length,
    messagesPerSec: med('messagesPerSec'),
    deliveriesPerSec: med('deliveriesPerSec'),
    cpuMsPerMessage: med('cpuMsPerMessage'),
    p50Ms: med('p50Ms'),
    p99Ms: med('p99Ms'),
    idleP50Ms: med('idleP50Ms'),
    idleP99Ms: med('idleP99Ms'),
    idleCpuMsPerSec: med('idleCpuMsPerSec'),
    lost: rs.reduce((n, r) => n + r.lost, 0)
  }
}
/** ours/plain msgs/s for each round that has both sides. */
function pairRatios (): number[] {
  const out: number[] = []
  for (let round = 1; round <= config.rounds; round++) {
    const p = runs.find(r => r.side === 'plain' && r.round === round)
    const o = runs.find(r => r.side === 'ours' && r.round === round)
    if (p != null && o != null) out.push(o.messagesPerSec / p.messagesPerSec)
  }
  return out
}
const plain = summarize('plain')
const ours = summarize('ours')
const ratio = plain != null && ours != null
  ? {
      messagesPerSec: ours.messagesPerSec / plain.messagesPerSec,
      deliveriesPerSec: ours.deliveriesPerSec / plain.deliveriesPerSec,
      /** median over rounds of ours/plain within the round (the two runs closest in time, so under the most similar load) */
      perRound: median(pairRatios()),
      /** plain's CPU per message over ours': the throughput ratio a CPU-bound run would show, whatever else loads the machine */
      cpu: plain.cpuMsPerMessage / ours.cpuMsPerMessage,
      p50: ours.p50Ms / plain.p50Ms,
      p99: ours.p99Ms / plain.p99Ms,
      idleP50: ours.idleP50Ms / plain.idleP50Ms,
      idleP99: ours.idleP99Ms / plain.idleP99Ms
    }
  : undefined

const topology = `full mesh (every node dials every other: ${NODES * (NODES - 1) / 2} TCP connections); node 0 publishes, nodes 1-9 subscribe`
if (args.json) {
  console.log(JSON.stringify({
    bench: 'pubsub',
    node: process.version,
    config: { nodes: NODES, subscribers: SUBSCRIBERS, payloadBytes: PAYLOAD_BYTES, ...config, lossTimeoutMs: LOSS_TIMEOUT_MS, topology },
    runs,
    median: { plain, ours },
    ratio,
    goal: ratio == null ? undefined : { minRatio: GOAL, met: ratio.messagesPerSec >= GOAL },
    error
  }, null, 2))
} else {
  const ms = (n: number): string => fmt(n, 1)
  console.log(`Pub-sub, ${NODES} nodes on loopback, ${PAYLOAD_BYTES} B payloads (Node ${process.version})`)
  console.log(`topology: ${topology}`)
  console.log(`per run: ${config.warmup} warm-up messages, ${config.messages} measured with at most ${config.window} in flight ("loaded"),`)
  console.log(`then ${config.probe} published one at a time ("idle" latency); runs alternate plain/ours on fresh nodes;`)
  console.log(`ours run membership beside pub-sub, round ${config.membershipMs} ms\n`)
  const head = ['msgs/s', 'deliveries/s', 'CPU ms/msg', 'p50 ms', 'p99 ms', 'idle p50', 'idle p99', 'lost']
  const cells = (r: Omit<Summary, 'runs'>): string[] =>
    [fmt(r.messagesPerSec, 1), fmt(r.deliveriesPerSec), fmt(r.cpuMsPerMessage, 2), ms(r.p50Ms), ms(r.p99Ms), ms(r.idleP50Ms), ms(r.idleP99Ms), String(r.lost)]
  const opt = (n: number | undefined): string => n == null ? '-' : String(n)
  console.log(table(['run', ...head, 'idle CPU ms/s', 'secs', 'conns', 'mesh links', 'pub mesh', 'rejected', 'unverified', 'caps fetched', 'load'], runs.map(r => [
    `${r.side} #${r.round}`, ...cells(r), fmt(r.idleCpuMsPerSec, 0), fmt(r.seconds, 1), String(r.connections), String(r.meshLinks), String(r.publisherMesh), opt(r.rejected), opt(r.unverified), opt(r.capsFetched), fmt(r.load, 1)
  ])))
  const med: string[][] = []
  if (plain != null) med.push([`plain (${plain.runs})`, ...cells(plain)])
  if (ours != null) med.push([`ours (${ours.runs})`, ...cells(ours)])
  console.log(`\nmedian (runs):\n${table(['side', ...head], med)}`)
  if (ratio != null) {
    console.log(`\nours/plain: throughput ${fmt(ratio.messagesPerSec, 2)} (median of per-round ratios ${fmt(ratio.perRound, 2)}; plain/ours CPU per message ${fmt(ratio.cpu, 2)}); latency p50 ${fmt(ratio.p50, 2)}x, p99 ${fmt(ratio.p99, 2)}x; idle p50 ${fmt(ratio.idleP50, 2)}x, idle p99 ${fmt(ratio.idleP99, 2)}x`)
    console.log(`goal (throughput >= ${GOAL} of plain): ${ratio.messagesPerSec >= GOAL ? 'met' : 'NOT met'}`)
  }
  if (error != null) console.log(`\nerror: ${error}`)
}
// libp2p may leave sockets or timers behind after stop(); the figures are out
process.exit(error == null ? 0 : 1)
