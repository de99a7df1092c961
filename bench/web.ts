// Browser participants (issue 5), measured in real Chromium: the participant
// page (apps/web) served by a Node coordinator's web gateway, tabs granting
// leases through its consent form, a Node coordinator handing them spin tasks
// (k = 1, q = 1).
//
//   npx node bench/web.ts [--quick] [--json] [--only cpu] [--profile DIR]
//
// --only cpu runs the CPU phase alone; --profile DIR records a CPU profile of
// the page's main thread (Chrome DevTools Protocol) over each CPU window,
// writes it to DIR/tab-main-<share>.cpuprofile and prints the functions with
// the most self time (the profiler's sampling costs the page some CPU itself).
//
// The consent form offers CPU shares up to the device's limit (all cores but
// one: 0.5 here), so "full lease" is that share.
// 1. Responsiveness of the page while its tab computes at its full lease: long
//    tasks (PerformanceObserver 'longtask', > 50 ms) and the delay of a keydown
//    handler (performance.now() − event.timeStamp) for real key presses sent
//    through Playwright every 50 ms, against the same probe on the idle page
//    (consent screen, nothing granted) in the same run. Granting (key
//    derivation, libp2p start, enrolment) is counted apart. Long animation
//    frames ('long-animation-frame') name the scripts behind any long task.
// 2. CPU used vs the lease's CPU share, for shares chosen on the consent form:
//    (a) the tab's own meter (meters().cpu.used sampled every 500 ms, and its
//    busyMs over the window), (b) the OS: utime + stime of Chromium's threads
//    (/proc/<pid>/task/<tid>/stat of this process's descendants) over the
//    window ÷ wall ÷ cores — the Web Worker threads (the sandbox domains)
//    alone, and the whole browser minus its idle measured just before.
// 3. Revoke: a fresh tab per sample (its keyring lives in sessionStorage, so a
//    new page is a new participant), computing, a real click on Revoke; the
//    page's revokeReport gives revoke() → last fuel slice ended, and a
//    capturing click listener gives the press (event.timeStamp) before it.
// 4. Throughput of one tab at its full lease (the device's limit: 0.5 and one
//    sandbox domain on 2 cores) vs one Node worker with as many domains, each
//    at full duty, the same module and inputs,
//    sides alternating (tab, node, node, tab); the workers' receipts give the
//    median time of one execution on each side.
// Every tab gets a fabric of its own (a coordinator serving the page, no
// compute of its own) and a job that keeps it busy. The coordinator
// spot-checks ~10% of k = 1 results in its own sandbox (a third thread in this
// process), during every scenario alike. For diagnosis the bench also reads
// Chromium's CPU per thread name, the scripts behind long
// animation frames, a 20 ms timer's lateness on the page's main thread, and
// the domains' fuel slices and duty-cycle sleeps (private fields).
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync, readdirSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Identity, defaultManifest, signManifest } from '@webfabric/protocol'
import type { FabricNode } from '@webfabric/runtime'
import { compileTask } from '@webfabric/sdk'
import { type BrowserContext, type Page, chromium } from 'playwright-core'
import { buildWebApp } from '../apps/web/build.ts'
import { deviceShareLimit } from '../packages/runtime/src/browser/lease-choice.ts'
import { type TestOrigin, didOf, grant, sleep, startNode, waitFor } from '../packages/runtime/test/fixtures.ts'
import { CHROMIUM_ARGS, ensureChromium } from '../scripts/chromium.ts'
import { fmt, median, percentile, table } from './lib/stats.ts'

const SPIN = fileURLToPath(new URL('../packages/compute/test/fixtures/assembly/spin.ts', import.meta.url))
const MEMBERSHIP = { intervalMs: 250, ttlMs: 5000 }
/** Iterations of one spin task: 600 M fuel, ≈ 0.12–0.3 s in a tab here, 0.07 s on Node. */
const ITERATIONS = 40_000_000
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer)

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, json: { type: 'boolean' }, only: { type: 'string' }, profile: { type: 'string' } } })
const quick = values.quick === true
if (values.only != null && values.only !== 'cpu') throw new Error(`--only takes cpu, not ${values.only}`)
const onlyCpu = values.only === 'cpu'
const profileDir = values.profile
const json = values.json === true
const say = (s: string): void => { if (!json) console.error(s) }

const PROBE_EVERY_MS = 50
const CORES = cpus().length
/** The largest share the consent form offers on this machine (one core stays with the device): a tab's full lease. */
const MAX_SHARE = deviceShareLimit(CORES)
/** Sandbox domains a tab lends at MAX_SHARE (as TabNode counts them); the Node side of the throughput gets as many. */
const TAB_SLOTS = Math.max(1, Math.round(CORES * MAX_SHARE))
const upTo = (shares: number[]): number[] => [...new Set(shares.filter(x => x <= MAX_SHARE))]
const PLAN = quick
  ? { probes: 60, computeShares: [MAX_SHARE], cpuShares: upTo([0.25, 0.5]), cpuWindowMs: 4000, revokes: 5, tasks: 12, rounds: ['tab', 'node'] as const }
  : { probes: 200, computeShares: upTo([0.25, MAX_SHARE]), cpuShares: upTo([0.25, 0.5, 0.75]), cpuWindowMs: 6000, revokes: 10, tasks: 24, rounds: ['tab', 'node', 'node', 'tab'] as const }

// ---------------------------------------------------------------- the page's side

interface Probe {
  longTasks: Array<{ start: number, duration: number }>
  frames: Array<{ start: number, duration: number, blocking: number, scripts: Array<{ invoker: string, type: string, fn: string, url: string, duration: number }> }>
  keys: Array<{ at: number, delay: number, frame: number }>
  clicks: Array<{ at: number, handled: number, target: string }>
  /** how late a 20 ms interval timer fired (main-thread scheduling), ms */
  lag: Array<{ at: number, late: number }>
}

/** Installed before any page script (addInitScript): long tasks, long animation frames, key and click timing. */
function installProbe (): void {
  const p = { longTasks: [], frames: [], keys: [], clicks: [], lag: [] } as unknown as Probe
  ;(globalThis as unknown as { benchProbe: Probe }).benchProbe = p
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) p.longTasks.push({ start: e.startTime, duration: e.duration })
    }).observe({ type: 'longtask', buffered: true })
  } catch {}
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries() as unknown as Array<PerformanceEntry & { blockingDuration: number, scripts: Array<{ invoker: string, invokerType: string, sourceFunctionName: string, sourceURL: string, duration: number }> }>) {
        p.frames.push({
          start: e.startTime,
          duration: e.duration,
          blocking: e.blockingDuration,
          scripts: e.scripts.map(s => ({ invoker: s.invoker, type: s.invokerType, fn: s.sourceFunctionName, url: s.sourceURL.replace(/^.*\//, ''), duration: s.duration }))
        })
      }
    }).observe({ type: 'long-animation-frame', buffered: true })
  } catch {}
  addEventListener('keydown', e => {
    const rec = { at: e.timeStamp, delay: performance.now() - e.timeStamp, frame: -1 }
    p.keys.push(rec)
    requestAnimationFrame(() => { rec.frame = performance.now() - e.timeStamp })
  }, { capture: true })
  let due = performance.now() + 20
  setInterval(() => {
    const now = performance.now()
    p.lag.push({ at: now, late: Math.max(0, now - due) })
    due = now + 20
  }, 20)
  addEventListener('click', e => {
    p.clicks.push({ at: e.timeStamp, handled: performance.now(), target: (e.target as Element | null)?.id ?? '' })
  }, { capture: true })
}

interface RevokeReport { leaseId: string, revokedAt: number, stoppedAt: number, stoppedRuns: number, slicesAfter: number }
interface TabState {
  status: string
  error?: { name: string, message: string }
  peerId?: string
  now: number
  cores: number
  meters?: { cpu: { share: number, used: number, busyMs: number }, running: number, runs: number }
  revoke?: RevokeReport
}

/** What the page's test hook says, with the page's clock. */
async function state (page: Page): Promise<TabState> {
  return await page.evaluate(() => {
    const h = (globalThis as unknown as { webfabricParticipant?: { status: string, error?: { name: string, message: string }, tab?: { peerId: string, meters: () => TabState['meters'] }, revokeReport?: RevokeReport } }).webfabricParticipant
    let meters: TabState['meters']
    try { meters = h?.tab?.meters() } catch {}
    return { status: h?.status ?? 'none', error: h?.error, peerId: h?.tab?.peerId, now: performance.now(), cores: navigator.hardwareConcurrency, meters, revoke: h?.revokeReport }
  })
}

/**
 * The tab's sandbox domains seen from inside (private fields, read for diagnosis only): fuel slices run,
 * ms slept to hold the duty cycle (the control block's slots 2 and 3), and ms busy.
 */
async function domainsOf (page: Page): Promise<{ now: number, domains: Array<{ slices: number, sleptMs: number, busyMs: number }> }> {
  return await page.evaluate(() => {
    const tab = (globalThis as unknown as { webfabricParticipant: { tab: { pool?: { domains: Array<{ control: Int32Array, busyMs: number }> } } } }).webfabricParticipant.tab
    return { now: performance.now(), domains: (tab.pool?.domains ?? []).map(d => ({ slices: Atomics.load(d.control, 2), sleptMs: Atomics.load(d.control, 3), busyMs: d.busyMs })) }
  })
}

async function probeOf (page: Page): Promise<Probe> {
  return await page.evaluate(() => (globalThis as unknown as { benchProbe: Probe }).benchProbe)
}

async function pageNow (page: Page): Promise<number> {
  return await page.evaluate(() => performance.now())
}

async function until (what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await fn()) return
    await sleep(50)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/** A new page (a new participant) at the consent form, with `share` chosen for the CPU control. */
async function openConsent (context: BrowserContext, url: string, share: number): Promise<Page> {
  const page = await context.newPage()
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as unknown as { webfabricParticipant?: { status: string } }).webfabricParticipant?.status === 'consent', undefined, { timeout: 30_000 })
  await page.locator('#cpuShare').fill(String(share))
  const shown = await page.locator('#cpuShare-value').innerText()
  if (shown !== `${Math.round(share * 100)}%`) throw new Error(`the CPU control shows ${shown} after choosing ${share}`)
  return page
}

/** Press "Grant lease and join" and wait until the tab runs. */
async function grantLease (page: Page): Promise<TabState> {
  await page.getByRole('button', { name: 'Grant lease and join' }).click()
  await page.waitForFunction(() => ['running', 'error', 'refused'].includes((globalThis as unknown as { webfabricParticipant?: { status: string } }).webfabricParticipant?.status ?? ''), undefined, { timeout: 60_000 })
  const s = await state(page)
  if (s.status !== 'running') throw new Error(`the tab did not join: ${s.error?.name}: ${s.error?.message}`)
  return s
}

async function computing (page: Page): Promise<void> {
  await until('the tab computes', async () => ((await state(page)).meters?.running ?? 0) > 0)
}

/** Press Revoke on the page and wait for its report. */
async function pressRevoke (page: Page): Promise<TabState> {
  await page.locator('#revoke').click()
  await page.waitForFunction(() => ['revoked', 'error'].includes((globalThis as unknown as { webfabricParticipant?: { status: string } }).webfabricParticipant?.status ?? ''), undefined, { timeout: 30_000 })
  const s = await state(page)
  if (s.status !== 'revoked') throw new Error(`Revoke failed: ${s.error?.message}`)
  return s
}

/** Real key presses every PROBE_EVERY_MS; returns the page-clock window they fell in. */
async function pressKeys (page: Page, n: number): Promise<{ from: number, to: number }> {
  const from = await pageNow(page)
  let next = performance.now()
  for (let i = 0; i < n; i++) {
    await sleep(Math.max(0, next - performance.now()))
    await page.keyboard.press('Shift')
    next = Math.max(next + PROBE_EVERY_MS, performance.now())
  }
  await sleep(100)
  return { from, to: await pageNow(page) }
}

// ---------------------------------------------------------------- the OS's side

const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

/** A Chromium thread's name (comm) and CPU ticks (utime + stime), read from /proc. */
interface ThreadTicks { comm: string, ticks: number }

function statOf (path: string): { comm: string, ppid: number, ticks: number } | undefined {
  let s: string
  try { s = readFileSync(path, 'utf8') } catch { return undefined }
  const close = s.lastIndexOf(')')
  // after "pid (comm) ": state ppid … utime (field 14) stime (field 15)
  const f = s.slice(close + 2).split(' ')
  return { comm: s.slice(s.indexOf('(') + 1, close), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }
}

/** Every thread of every Chromium process started by this one, by "pid/tid". */
function chromiumThreads (): Map<string, ThreadTicks> {
  const children = new Map<number, Array<{ pid: number, comm: string }>>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const st = statOf(`/proc/${name}/stat`)
    if (st != null) children.set(st.ppid, [...(children.get(st.ppid) ?? []), { pid: Number(name), comm: st.comm }])
  }
  const out = new Map<string, ThreadTicks>()
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (/chrom/i.test(c.comm)) {
        let tids: string[] = []
        try { tids = readdirSync(`/proc/${c.pid}/task`) } catch {}
        for (const tid of tids) {
          const st = statOf(`/proc/${c.pid}/task/${tid}/stat`)
          if (st != null) out.set(`${c.pid}/${tid}`, { comm: st.comm, ticks: st.ticks })
        }
      }
      walk(c.pid)
    }
  }
  walk(process.pid)
  return out
}

/** Chromium's Web Worker threads (the sandbox domains: the page starts no other workers). */
const isWebWorker = (comm: string): boolean => comm.startsWith('DedicatedWorker')

/** CPU seconds the Chromium threads (those `which` picks) used between two readings; threads that ended in between are lost. */
function cpuSecondsBetween (a: Map<string, ThreadTicks>, b: Map<string, ThreadTicks>, which: (comm: string) => boolean = () => true): number {
  let ticks = 0
  for (const [id, t] of b) if (which(t.comm)) ticks += t.ticks - (a.get(id)?.ticks ?? 0)
  return ticks / CLK_TCK
}

/** Cores used per thread name between two readings (names that used under 1%), for the JSON. */
function byThread (a: Map<string, ThreadTicks>, b: Map<string, ThreadTicks>, wallS: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [id, t] of b) out[t.comm] = (out[t.comm] ?? 0) + (t.ticks - (a.get(id)?.ticks ?? 0)) / CLK_TCK / wallS
  for (const k of Object.keys(out)) if (out[k] < 0.01) delete out[k]
  else out[k] = Math.round(out[k] * 1000) / 1000
  return out
}

/** Cores' worth of CPU the browser uses over `ms` of wall time from now. */
async function browserCores (ms: number): Promise<number> {
  const a = chromiumThreads()
  const t = performance.now()
  await sleep(ms)
  const b = chromiumThreads()
  return cpuSecondsBetween(a, b) / ((performance.now() - t) / 1000)
}

// ---------------------------------------------------------------- the fabric

interface Fabric { coordinator: FabricNode, url: string }

async function makeOrigin (): Promise<TestOrigin> {
  const identity = await Identity.generate()
  const base = defaultManifest(identity.did, 'bench', Date.now())
  // a manifest asking for the whole device: the consent form offers shares up to the device's limit
  const manifest = await signManifest(identity, { ...base, qos: { ...base.qos, cpuShare: 1 }, rendezvous: [] })
  const dir = await mkdtemp(join(tmpdir(), 'wf-bench-web-'))
  return { identity, manifest, dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

let fabrics = 0
/** A coordinator (rendezvous, compute/assign) serving the web app; no compute of its own but spot-checks. */
async function startFabric (origin: TestOrigin, dist: string): Promise<Fabric> {
  const dataDir = join(origin.dir, `coordinator-${++fabrics}`)
  const did = await didOf(origin, dataDir)
  const creds = await Promise.all([
    grant(origin, did, 'fabric/membership', ['membership/gossip']),
    grant(origin, did, 'fabric/compute', ['compute/assign'])
  ])
  const coordinator = await startNode(origin, { dataDir, rendezvous: true, roles: ['rendezvous'], credentials: creds.map(c => c.bytes), membership: MEMBERSHIP, web: { root: dist } })
  return { coordinator, url: coordinator.webUrl! }
}

/** Shared by every scenario: the browser context, the origin, the built app and the task module. */
interface Bench { context: BrowserContext, origin: TestOrigin, dist: string, module: Uint8Array }

/**
 * One tab on a fabric of its own: `fn` gets the page at the consent form and `load()`, which submits a job
 * big enough to keep the tab busy to the end (it is rejected when the coordinator stops). A fabric per
 * tab, because a coordinator keeps a departed tab in its view for a moment and every waiting task spends
 * one of its 12 attempts on it: one long job outlived by a dozen revoked tabs fails all its tasks.
 */
async function withTab<T> (b: Bench, share: number, fn: (page: Page, f: Fabric, load: () => void) => Promise<T>): Promise<T> {
  const f = await startFabric(b.origin, b.dist)
  const load = (): void => {
    const inputs = Array.from({ length: 2000 }, (_, i) => u32(ITERATIONS + i))
    f.coordinator.submitJob({ module: b.module, inputs, replicas: 1, quorum: 1, name: 'bench-load' }).catch(() => {})
  }
  let page: Page | undefined
  try {
    page = await openConsent(b.context, f.url, share)
    return await fn(page, f, load)
  } finally {
    await page?.close().catch(() => {})
    await f.coordinator.stop()
  }
}

const member = (f: Fabric, peerId: string): boolean => f.coordinator.membership.view().some(m => m.peerId === peerId && m.roles.includes('compute'))

// ---------------------------------------------------------------- 1. responsiveness

interface LatencyStats {
  n: number
  /** key press → keydown handler, ms */
  p50: number
  p99: number
  max: number
  /** key press → the next animation frame, ms */
  frameP50: number
  frameP99: number
  /** how late a 20 ms timer fired on the main thread, ms */
  lagP99: number
  lagMax: number
}
interface Window { longTasks: number, longTaskMs: number[] }
interface ComputingRow extends LatencyStats, Window { share: number, slots: number, runs: number, threads: Record<string, number> }
interface Responsiveness {
  idle: LatencyStats & Window
  granting: Window & { ms: number }
  computing: ComputingRow[]
  /** scripts behind long animation frames while granting and while computing: invoker → total ms */
  culprits: { granting: Record<string, number>, computing: Record<string, number> }
}

function latency (probe: Probe, w: { from: number, to: number }): LatencyStats {
  const k = probe.keys.filter(x => x.at >= w.from && x.at < w.to)
  const d = k.map(x => x.delay)
  const f = k.map(x => x.frame).filter(x => x >= 0)
  const lag = probe.lag.filter(x => x.at >= w.from && x.at < w.to).map(x => x.late)
  return {
    n: k.length,
    p50: percentile(d, 50),
    p99: percentile(d, 99),
    max: Math.max(...d),
    frameP50: percentile(f, 50),
    frameP99: percentile(f, 99),
    lagP99: percentile(lag, 99),
    lagMax: Math.max(...lag)
  }
}

/** The scripts behind the long animation frames that began in the window: "type invoker" → ms. */
function culpritsIn (probe: Probe, w: { from: number, to: number }, into: Record<string, number> = {}): Record<string, number> {
  const add = (k: string, ms: number): void => { into[k] = (into[k] ?? 0) + Math.round(ms) }
  for (const fr of probe.frames.filter(x => x.start >= w.from && x.start < w.to)) {
    const scripts = fr.scripts.reduce((a, x) => a + x.duration, 0)
    for (const s of fr.scripts) add(`${s.type} ${s.invoker}`, s.duration)
    // the rest of the frame: style, layout, paint, garbage collection, or waiting for the CPU
    if (fr.duration - scripts >= 1) add('(outside scripts)', fr.duration - scripts)
  }
  return into
}

function longTasksIn (probe: Probe, w: { from: number, to: number }): Window {
  const ms = probe.longTasks.filter(t => t.start >= w.from && t.start < w.to && t.duration > 50).map(t => Math.round(t.duration))
  return { longTasks: ms.length, longTaskMs: ms }
}

async function responsiveness (b: Bench): Promise<Responsiveness> {
  const computingRows: ComputingRow[] = []
  const culprits: Responsiveness['culprits'] = { granting: {}, computing: {} }
  let idle: Responsiveness['idle'] | undefined
  let granting: Responsiveness['granting'] | undefined
  for (const share of PLAN.computeShares) await withTab(b, share, async (page, f, load) => {
    if (idle == null) {
      await sleep(1000)
      say(`responsiveness: ${PLAN.probes} key presses on the idle page (consent screen)…`)
      const w = await pressKeys(page, PLAN.probes)
      const probe = await probeOf(page)
      idle = { ...latency(probe, w), ...longTasksIn(probe, w) }
    }
    const g0 = await pageNow(page)
    const joined = await grantLease(page)
    load()
    await computing(page)
    const g1 = await pageNow(page)
    if (granting == null) {
      const probe = await probeOf(page)
      granting = { ms: g1 - g0, ...longTasksIn(probe, { from: g0, to: g1 }) }
      culpritsIn(probe, { from: g0, to: g1 }, culprits.granting)
    }
    await sleep(1000)
    say(`responsiveness: ${PLAN.probes} key presses while the tab computes at CPU share ${share}…`)
    const s0 = await state(page)
    const o0 = chromiumThreads()
    const t0 = performance.now()
    const w = await pressKeys(page, PLAN.probes)
    const threads = byThread(o0, chromiumThreads(), (performance.now() - t0) / 1000)
    const s1 = await state(page)
    if ((s1.meters?.running ?? 0) === 0) say('  (the tab was between tasks at the end of the window)')
    const probe = await probeOf(page)
    culpritsIn(probe, w, culprits.computing)
    const slots = f.coordinator.membership.view().find(m => m.peerId === joined.peerId)?.capacity.slots ?? 0
    computingRows.push({ share, slots, runs: (s1.meters?.runs ?? 0) - (s0.meters?.runs ?? 0), threads, ...latency(probe, w), ...longTasksIn(probe, w) })
    await pressRevoke(page)
  })
  return { idle: idle!, granting: granting!, computing: computingRows, culprits }
}

// ---------------------------------------------------------------- 2. CPU share

interface CpuRow {
  share: number
  slots: number
  duty: number
  /** the tab's meter: mean of meters().cpu.used, and busyMs over the window, as shares of the device */
  meter: number
  busy: number
  /** the OS: every Chromium thread minus the browser's idle, and the Web Worker (sandbox) threads alone */
  os: number
  workers: number
  /** inside the domains: mean ms of computing per fuel slice, and the fraction of wall time spent computing (per domain) */
  sliceMs: number
  runFraction: number
  /** the rest of Chromium while computing (page main thread, IO, compositor…) minus the idle, cores */
  restCores: number
  /** executions that ended in the window, and the rest of Chromium's CPU (minus the idle) per execution, ms */
  runs: number
  restMsPerRun: number
  idleCores: number
  windowMs: number
  threads: Record<string, number>
}

async function cpuShare (b: Bench, share: number): Promise<CpuRow> {
  return await withTab(b, share, async (page, _f, load) => await cpuShareOf(page, share, load))
}

async function cpuShareOf (page: Page, share: number, load: () => void): Promise<CpuRow> {
  await sleep(1000)
  const idleCores = await browserCores(2000)
  await grantLease(page)
  load()
  await computing(page)
  await sleep(3000) // the meter's window (3 s) fills; the JIT is warm
  say(`cpu: share ${share}, ${PLAN.cpuWindowMs} ms window…`)
  const profiler = profileDir == null ? undefined : await startProfile(page)
  const s0 = await state(page)
  const d0 = await domainsOf(page)
  const o0 = chromiumThreads()
  const t0 = performance.now()
  const used: number[] = []
  while (performance.now() - t0 < PLAN.cpuWindowMs) {
    await sleep(500)
    used.push((await state(page)).meters?.cpu.used ?? 0)
  }
  const o1 = chromiumThreads()
  const wall = (performance.now() - t0) / 1000
  const d1 = await domainsOf(page)
  const s1 = await state(page)
  if (profiler != null) await profiler(`tab-main-${share}`)
  await pressRevoke(page)
  let slices = 0
  let computedMs = 0
  for (const [i, d] of d1.domains.entries()) {
    slices += d.slices - d0.domains[i].slices
    computedMs += (d.busyMs - d0.domains[i].busyMs) - (d.sleptMs - d0.domains[i].sleptMs)
  }
  const slots = Math.max(1, Math.round(s1.cores * share))
  return {
    share,
    slots,
    duty: Math.min(1, s1.cores * share / slots),
    meter: used.reduce((a, b) => a + b, 0) / used.length,
    busy: (s1.meters!.cpu.busyMs - s0.meters!.cpu.busyMs) / (s1.now - s0.now) / s1.cores,
    os: (cpuSecondsBetween(o0, o1) / wall - idleCores) / CORES,
    workers: cpuSecondsBetween(o0, o1, isWebWorker) / wall / CORES,
    sliceMs: computedMs / slices,
    runFraction: computedMs / d1.domains.length / (d1.now - d0.now),
    restCores: cpuSecondsBetween(o0, o1, c => !isWebWorker(c)) / wall - idleCores,
    runs: s1.meters!.runs - s0.meters!.runs,
    restMsPerRun: (cpuSecondsBetween(o0, o1, c => !isWebWorker(c)) - idleCores * wall) * 1000 / Math.max(1, s1.meters!.runs - s0.meters!.runs),
    idleCores,
    windowMs: Math.round(wall * 1000),
    threads: byThread(o0, o1, wall)
  }
}

interface CpuProfile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }>
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/**
 * Starts the DevTools profiler on the page's main thread (1 ms sampling); the function it returns stops it,
 * writes the profile to `profileDir/<name>.cpuprofile` and prints the functions with the most self time.
 */
async function startProfile (page: Page): Promise<(name: string) => Promise<void>> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 1000 })
  await cdp.send('Profiler.start')
  return async (name) => {
    const { profile } = await cdp.send('Profiler.stop') as unknown as { profile: CpuProfile }
    await cdp.detach().catch(() => {})
    await mkdir(profileDir!, { recursive: true })
    const file = join(profileDir!, `${name}.cpuprofile`)
    await writeFile(file, JSON.stringify(profile))
    const frame = new Map(profile.nodes.map(n => [n.id, n.callFrame]))
    const self = new Map<string, number>()
    let total = 0
    for (const [i, id] of profile.samples.entries()) {
      const f = frame.get(id)!
      const key = f.url === '' ? f.functionName || '(anonymous)' : `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`
      const us = profile.timeDeltas[i] ?? 0
      self.set(key, (self.get(key) ?? 0) + us)
      total += us
    }
    const busy = total - (self.get('(idle)') ?? 0) - (self.get('(program)') ?? 0)
    say(`profile ${file}: ${fmt(total / 1000)} ms sampled, ${fmt(busy / 1000)} ms in JS, GC and (root), ${fmt((self.get('(program)') ?? 0) / 1000)} ms (program), ${fmt((self.get('(idle)') ?? 0) / 1000)} ms idle; most self time:`)
    for (const [k, us] of [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 25)) {
      say(`  ${fmt(us / 1000, 1).padStart(8)} ms  ${(100 * us / total).toFixed(1).padStart(5)}%  ${k}`)
    }
  }
}

// ---------------------------------------------------------------- 3. revoke

interface RevokeSample { share: number, stopMs: number, pressToRevokeMs: number, pressToStopMs: number, slicesAfter: number, stoppedRuns: number }

async function revokeSample (b: Bench, share: number, delayMs: number): Promise<RevokeSample> {
  const { s, click } = await withTab(b, share, async (page, _f, load) => {
    await grantLease(page)
    load()
    await computing(page)
    await sleep(delayMs)
    const s = await pressRevoke(page)
    return { s, click: (await probeOf(page)).clicks.filter(c => c.target === 'revoke').at(-1) }
  })
  const r = s.revoke!
  return {
    share,
    stopMs: r.stoppedAt - r.revokedAt,
    pressToRevokeMs: click != null ? r.revokedAt - click.at : Number.NaN,
    pressToStopMs: click != null ? r.stoppedAt - click.at : Number.NaN,
    slicesAfter: r.slicesAfter,
    stoppedRuns: r.stoppedRuns
  }
}

// ---------------------------------------------------------------- 4. throughput

interface ThroughputRun {
  side: 'tab' | 'node'
  tasksPerSec: number
  wallMs: number
  cpuCores: number
  verifications: number
  /** median wall time of one execution in its sandbox domain, from the worker's receipts */
  execMs: number
}

async function timedJob (f: Fabric, module: Uint8Array, inputs: Uint8Array[], name: string, cpu: () => number, execMs: (job: string) => Promise<number[]>): Promise<Omit<ThroughputRun, 'side'>> {
  const c0 = cpu()
  const t0 = performance.now()
  // a job that stops moving says where it stands
  const progress = setInterval(() => {
    const v = f.coordinator.coordinator?.jobList().find(j => j.name === name)
    if (v != null) say(`throughput: ${name} still running after ${fmt((performance.now() - t0) / 1000)} s: ${JSON.stringify(v)}`)
  }, 10_000)
  const report = await f.coordinator.submitJob({ module, inputs, replicas: 1, quorum: 1, name }).finally(() => clearInterval(progress))
  const wallMs = performance.now() - t0
  const cpuCores = (cpu() - c0) / (wallMs / 1000)
  if (report.accepted !== inputs.length) throw new Error(`${name}: ${report.accepted} of ${inputs.length} tasks accepted`)
  return { tasksPerSec: inputs.length / (wallMs / 1000), wallMs, cpuCores, verifications: report.verifications, execMs: median(await execMs(report.job)) }
}

async function throughput (b: Bench): Promise<ThroughputRun[]> {
  const f = await startFabric(b.origin, b.dist)
  try {
    return await throughputOn(b, f)
  } finally {
    await f.coordinator.stop()
  }
}

async function throughputOn ({ context, origin, module }: Bench, f: Fabric): Promise<ThroughputRun[]> {
  const inputs = Array.from({ length: PLAN.tasks }, (_, i) => u32(ITERATIONS + i * 7919))
  const warm = Array.from({ length: 4 }, (_, i) => u32(ITERATIONS / 4 + i))
  const runs: ThroughputRun[] = []
  for (const [i, side] of PLAN.rounds.entries()) {
    if (side === 'tab') {
      const page = await openConsent(context, f.url, MAX_SHARE)
      const s = await grantLease(page)
      await waitFor('the coordinator sees the tab', () => member(f, s.peerId!), 30_000)
      await f.coordinator.submitJob({ module, inputs: warm, replicas: 1, quorum: 1, name: `warm-${i}` })
      let ticks = chromiumThreads()
      let cpuS = 0
      const cpu = (): number => { const t = chromiumThreads(); cpuS += cpuSecondsBetween(ticks, t); ticks = t; return cpuS }
      const execMs = async (job: string): Promise<number[]> => await page.evaluate(j =>
        ((globalThis as unknown as { webfabricParticipant: { tab: { receipts: () => Array<{ job: string, wallMs: number }> } } }).webfabricParticipant.tab.receipts())
          .filter(r => r.job === j).map(r => r.wallMs), job)
      const run = await timedJob(f, module, inputs, `tab-${i}`, cpu, execMs)
      runs.push({ side, ...run })
      await pressRevoke(page)
      await page.close()
      await waitFor('the tab left', () => !member(f, s.peerId!), 30_000)
    } else {
      const worker = await startNode(origin, { bootstrap: f.coordinator.addrs(), roles: ['compute'], compute: { slots: TAB_SLOTS }, membership: MEMBERSHIP })
      await waitFor('the coordinator sees the node', () => member(f, worker.peerId), 30_000)
      await f.coordinator.submitJob({ module, inputs: warm, replicas: 1, quorum: 1, name: `warm-${i}` })
      // this process: the worker's domains, and the coordinator (also there on the tab's side)
      const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
      const execMs = async (job: string): Promise<number[]> => (await worker.receipts.list({ job })).map(r => r.wallMs)
      const run = await timedJob(f, module, inputs, `node-${i}`, cpu, execMs)
      runs.push({ side, ...run })
      await worker.stop()
      await waitFor('the node left', () => !member(f, worker.peerId), 30_000)
    }
    const last = runs.at(-1)!
    say(`throughput: ${side} ${fmt(last.tasksPerSec, 2)} tasks/s (${PLAN.tasks} tasks in ${fmt(last.wallMs)} ms, ${last.verifications} spot-checks)`)
  }
  return runs
}

// ---------------------------------------------------------------- main

const pct = (x: number): string => `${fmt(x * 100, 1)}%`
const dev = (used: number, share: number): string => `${used >= share ? '+' : ''}${fmt((used - share) / share * 100, 1)}%`
const ms = (x: number, d = 1): string => fmt(x, d)
const met = (ok: boolean): string => ok ? 'met' : 'NOT met'
const longTasksText = (w: Window): string => w.longTasks === 0 || w.longTasks > 3
  ? `${w.longTasks}${w.longTasks > 0 ? ` (longest ${Math.max(...w.longTaskMs)} ms, ${w.longTaskMs.reduce((a, b) => a + b, 0)} ms in all)` : ''}`
  : `${w.longTasks} (${w.longTaskMs.join(', ')} ms)`

async function measure () {
  const load0 = loadavg()[0]
  say('building the web app and the spin task…')
  const [dist, module] = await Promise.all([buildWebApp({ log: say }), compileTask(SPIN)])
  const origin = await makeOrigin()
  const browser = await chromium.launch({ executablePath: ensureChromium(say), args: CHROMIUM_ARGS, headless: true })
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  await context.addInitScript(installProbe)
  const started = performance.now()
  try {
    const b: Bench = { context, origin, dist, module }
    const resp = await responsiveness(b)
    const cpu: CpuRow[] = []
    for (const share of PLAN.cpuShares) cpu.push(await cpuShare(b, share))
    const revokes: RevokeSample[] = []
    const shares = upTo([MAX_SHARE, 0.5, 0.25])
    for (let i = 0; i < PLAN.revokes; i++) {
      // Revoke lands at a different point of a task and of its fuel slice each time
      const r = await revokeSample(b, shares[i % shares.length], (i * 137) % 400)
      say(`revoke ${i + 1}/${PLAN.revokes} (share ${r.share}): stopped ${ms(r.stopMs)} ms after revoke(), ${ms(r.pressToStopMs)} ms after the press; ${r.slicesAfter} slice(s) after`)
      revokes.push(r)
    }
    const runs = await throughput(b)

    const tabRate = median(runs.filter(r => r.side === 'tab').map(r => r.tasksPerSec))
    const nodeRate = median(runs.filter(r => r.side === 'node').map(r => r.tasksPerSec))
    const stop = revokes.map(r => r.stopMs)
    const press = revokes.map(r => r.pressToStopMs).filter(Number.isFinite)
    return {
      machine: { cores: CORES, chromium: browser.version(), node: process.version, load: [load0, loadavg()[0]] },
      quick,
      seconds: Math.round((performance.now() - started) / 1000),
      responsiveness: resp,
      cpu,
      revoke: {
        samples: revokes,
        stopMs: { p50: percentile(stop, 50), p90: percentile(stop, 90), max: Math.max(...stop) },
        pressToStopMs: { p50: percentile(press, 50), p90: percentile(press, 90), max: Math.max(...press) },
        pressToRevokeMs: { p50: percentile(revokes.map(r => r.pressToRevokeMs), 50), max: Math.max(...revokes.map(r => r.pressToRevokeMs)) },
        maxSlicesAfter: Math.max(...revokes.map(r => r.slicesAfter)),
        stoppedRuns: revokes.map(r => r.stoppedRuns)
      },
      throughput: { tasks: PLAN.tasks, iterations: ITERATIONS, runs, tabTasksPerSec: tabRate, nodeTasksPerSec: nodeRate, ratio: tabRate / nodeRate }
    }
  } finally {
    await browser.close().catch(() => {})
    await origin.cleanup()
  }
}

function printCpu (rows: CpuRow[]): void {
  console.log('CPU used vs the lease\'s CPU share (fractions of the whole device)')
  console.log(table(['lease share', 'domains × duty', 'duty held', 'ms per slice', 'tab meter (used)', 'tab busyMs', 'OS: worker threads', 'OS: Chromium − idle', 'rest of Chromium', 'per execution', 'meter vs share', 'workers vs share', 'Chromium vs share', 'goal ±10% (OS, workers)'], rows.map(x => [
    pct(x.share), `${x.slots} × ${fmt(x.duty, 2)}`, fmt(x.runFraction, 2), fmt(x.sliceMs, 2), pct(x.meter), pct(x.busy), pct(x.workers), pct(x.os), `${fmt(x.restCores, 2)} cores`, `${fmt(x.restMsPerRun, 1)} ms (${x.runs})`,
    dev(x.meter, x.share), dev(x.workers, x.share), dev(x.os, x.share), met(Math.abs(x.workers - x.share) <= 0.1 * x.share)
  ])))
  for (const x of rows) {
    const busiest = Object.entries(x.threads).sort((a, b) => b[1] - a[1]).slice(0, 8)
    console.log(`Chromium threads at share ${x.share}, cores: ${busiest.map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}`)
  }
  console.log('')
}

/** The figures on stdout as tables, with the issue's goals. */
function print (r: Awaited<ReturnType<typeof measure>>): void {
  const c = r.responsiveness
  const longOk = c.computing.every(x => x.longTasks === 0)
  console.log(`Chromium ${r.machine.chromium}, ${r.machine.cores} cores, load ${fmt(r.machine.load[0], 1)} → ${fmt(r.machine.load[1], 1)}, ${r.seconds} s\n`)
  console.log('Responsiveness (key press → keydown handler, ms; long tasks > 50 ms on the main thread)')
  console.log(table(['page', 'presses', 'p50', 'p99', 'max', 'to next frame p99', 'timer lag p99 / max', 'long tasks', 'goal'], [
    ['idle (consent screen)', String(c.idle.n), ms(c.idle.p50), ms(c.idle.p99), ms(c.idle.max), ms(c.idle.frameP99), `${ms(c.idle.lagP99)} / ${ms(c.idle.lagMax)}`, String(c.idle.longTasks), ''],
    [`granting (${fmt(c.granting.ms)} ms)`, '', '', '', '', '', '', longTasksText(c.granting), ''],
    ...c.computing.map(x => [`computing, share ${x.share} (${x.slots} domains, ${x.runs} tasks)`, String(x.n), ms(x.p50), ms(x.p99), ms(x.max), ms(x.frameP99), `${ms(x.lagP99)} / ${ms(x.lagMax)}`,
      longTasksText(x), `p99 < 16: ${met(x.p99 < 16)}; none: ${met(x.longTasks === 0)}`])
  ]))
  for (const x of c.computing) {
    const busiest = Object.entries(x.threads).sort((a, b) => b[1] - a[1]).slice(0, 6)
    console.log(`Chromium threads while computing at share ${x.share}, cores: ${busiest.map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}`)
  }
  for (const [when, by] of Object.entries(c.culprits)) {
    const top = Object.entries(by).sort((a, b) => b[1] - a[1]).slice(0, 5)
    if (top.length > 0) console.log(`long animation frames while ${when}, by script: ${top.map(([k, v]) => `${k} ${v} ms`).join('; ')}`)
  }
  console.log(`long tasks while computing: ${met(longOk)}\n`)

  printCpu(r.cpu)

  const v = r.revoke
  console.log(`Revoke (${v.samples.length} tabs, computing at shares ${upTo([MAX_SHARE, 0.5, 0.25]).join(', ')} in turn)`)
  console.log(table(['', 'p50 ms', 'p90 ms', 'max ms', 'goal'], [
    ['revoke() → last fuel slice ended', ms(v.stopMs.p50), ms(v.stopMs.p90), ms(v.stopMs.max), `< 100 ms: ${met(v.stopMs.max < 100)}`],
    ['press (event.timeStamp) → last slice ended', ms(v.pressToStopMs.p50), ms(v.pressToStopMs.p90), ms(v.pressToStopMs.max), `< 100 ms: ${met(v.pressToStopMs.max < 100)}`],
    ['press → revoke() called', ms(v.pressToRevokeMs.p50), '', ms(v.pressToRevokeMs.max), '']
  ]))
  console.log(`fuel slices begun after Revoke: at most ${v.maxSlicesAfter}; executions stopped per sample: ${v.stoppedRuns.join(' ')}\n`)

  const t = r.throughput
  console.log(`Throughput, ${t.tasks} spin tasks of ${fmt(t.iterations)} iterations, k = 1`)
  console.log(table(['round', 'side', 'tasks/s', 'wall ms', 'one execution, median ms', 'CPU, cores (Chromium | this process)', 'spot-checks'], t.runs.map((x, i) => [
    String(i + 1), x.side === 'tab' ? `tab, share ${MAX_SHARE} (${TAB_SLOTS} domain${TAB_SLOTS === 1 ? '' : 's'})` : `Node worker, ${TAB_SLOTS} domain${TAB_SLOTS === 1 ? '' : 's'}`, fmt(x.tasksPerSec, 2), fmt(x.wallMs), fmt(x.execMs), fmt(x.cpuCores, 2), String(x.verifications)
  ])))
  console.log(`median tab ${fmt(t.tabTasksPerSec, 2)} tasks/s, Node ${fmt(t.nodeTasksPerSec, 2)} tasks/s: tab ÷ Node = ${fmt(t.ratio, 2)}`)
}

/** `--only cpu`: the CPU phase alone (with `--profile`, to see what the page's main thread does meanwhile). */
async function measureCpu (): Promise<CpuRow[]> {
  const [dist, module] = await Promise.all([buildWebApp({ log: say }), compileTask(SPIN)])
  const origin = await makeOrigin()
  const browser = await chromium.launch({ executablePath: ensureChromium(say), args: CHROMIUM_ARGS, headless: true })
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  await context.addInitScript(installProbe)
  try {
    const cpu: CpuRow[] = []
    for (const share of PLAN.cpuShares) cpu.push(await cpuShare({ context, origin, dist, module }, share))
    return cpu
  } finally {
    await browser.close().catch(() => {})
    await origin.cleanup()
  }
}

if (onlyCpu) {
  const load0 = loadavg()[0]
  const rows = await measureCpu()
  if (json) console.log(JSON.stringify({ load: [load0, loadavg()[0]], cpu: rows }))
  else {
    console.log(`load ${fmt(load0, 1)} → ${fmt(loadavg()[0], 1)}\n`)
    printCpu(rows)
  }
} else {
  const result = await measure()
  if (json) console.log(JSON.stringify(result))
  else print(result)
}
