// WebFabricRuntime: one fabric node. It owns a libp2p host, verifies the
// origin's manifest, runs the membership core, the capability-guarded pub-sub
// service and the revocation feed, grants the origin a lease for the roles it
// serves, and exposes the admin API. Nothing happens in the constructor;
// `start()` does the I/O and `stop()` undoes it.
import { join } from 'node:path'
import { cpus, totalmem } from 'node:os'
import {
  type Capability,
  type Identity,
  type Keyring,
  type PolicyManifest,
  type Revocation,
  RevocationSet,
  type SignedManifest,
  decodeCapability,
  decodeRevocation,
  delegate,
  signedManifestToJSON,
  describeLease,
  encodeRevocation,
  epochAt,
  grantLease,
  IDENTITY_ROTATION_MS,
  revoke,
  toBase64url,
  fromBase64url,
  verifyManifest,
  verifyRevocationSignature
} from '@webfabric/protocol'
import { type ReputationSnapshot, SandboxPool } from '@webfabric/compute'
import { startAdminServer, type AdminOps, type AdminServer } from './admin.ts'
import { ComputeCoordinator, type JobProgress, type JobSpec } from './compute-coordinator.ts'
import { COMPUTE_ASSIGN_NEED, TASK_OUTPUT_LIMIT_BYTES } from './compute-wire.ts'
import { type TaskStorage, taskStorage } from './compute-storage.ts'
import { ComputeWorker } from './compute-worker.ts'
import { reportLoad } from './load-report.ts'
import { diskModuleStore } from './module-store.ts'
import { MAX_GOSSIPSUB_FRAME, topicPrefix } from './constants.ts'
import { CredentialVerifier } from './credentials.ts'
import { ensureDir, loadKeyring, newAdminToken, readJson, writeJson } from './datadir.ts'
import { NotRunningError } from './errors.ts'
import { type Violation, defaultGuardRules, installProtocolGuards } from './guard.ts'
import { createHost, type Host } from './host.ts'
import { MEMBERSHIP_NEED, MembershipService } from './membership-service.ts'
import { libp2pKeyOf } from './peer-identity.ts'
import { PROC_SPAWN_NEED, type ProcEvent, ProcessHost, ProcessManager, type ProcSpec } from './process-service.ts'
import { PubSubService } from './pubsub-service.ts'
import { RevocationFeed } from './revocation-feed.ts'
import { ReceiptLog } from './receipt-log.ts'
import { startNodeStorage } from './storage-node.ts'
import type { StorageRuntime } from './storage-runtime.ts'
import { startGet, startPut } from './storage-session.ts'
import { STORAGE_GET_NEED, STORAGE_HOLD_NEED, STORAGE_PUT_NEED } from './storage-wire.ts'
import { parseReadCap } from '@webfabric/storage'
import { tuneV8ForBytes } from './v8-gc.ts'
import { type WebGateway, startWebGateway } from './web-gateway.ts'
import type { JoinRequest, JoinResponse } from './web-wire.ts'

/** Options of {@link FabricNode}. */
export interface FabricNodeInit {
  /** Where keys, revocations, leases and the admin endpoint file live. */
  dataDir: string
  /** The origin's signed policy manifest; verified before anything starts. */
  manifest: SignedManifest
  /** Capabilities the origin granted this node (encoded): membership, topics, … */
  credentials?: Uint8Array[]
  /** Roles this node serves, e.g. ['compute'] or ['rendezvous']. */
  roles?: string[]
  listen?: string[]
  /** Bootstrap multiaddrs; default: the manifest's rendezvous addresses. */
  bootstrap?: string[]
  /** Serve circuit relay v2 and act as a membership seed (the BCIN rendezvous role). */
  rendezvous?: boolean
  /** Exempt loopback from inbound rate limits (local fabrics only). */
  allowLoopback?: boolean
  /** Serve the admin API on 127.0.0.1 (port 0 = any free port; the byte channel's ticket TTL and client wait, ms). Default on. */
  admin?: false | { port?: number, ticketTtlMs?: number, clientIdleMs?: number }
  membership?: { intervalMs?: number, ttlMs?: number }
  /**
   * Compute: sandbox domains lent to the fabric (default: cores × the manifest's cpuShare, at least 1) and their
   * watchdog. `prestart`: start the domains with the node rather than at its first task (long-lived nodes: the
   * first job then does not wait for worker threads to start).
   */
  compute?: { slots?: number, watchdogMs?: number, sliceFuel?: number, saboteur?: 'wrong' | 'misnamed' | 'stored-wrong', prestart?: boolean }
  /**
   * Serve the participant page and dashboard (the built apps/web in `root`), the manifest, and
   * enrolment of tabs, on http://host:port (default 127.0.0.1, any free port).
   */
  web?: { root: string, port?: number, host?: string }
  /** Storage: how often to collect garbage and to scrub (re-verify) every block. */
  storage?: { gcMs?: number, scrubMs?: number, repair?: { graceMs?: number, antiEntropyMs?: number, rebuildTimeoutMs?: number } }
  /**
   * Set V8's collector for a process that moves bytes (count external memory in its global limit; see
   * v8-gc.ts). Process-wide; default on — false keeps V8's default in a program that embeds the node.
   */
  v8Tuning?: boolean
  log?: (msg: string) => void
  /** Clock, for tests. */
  now?: () => number
}

/** A lease this node granted to the origin, as recorded in its data directory. */
interface LeaseRecord { id: string, token: string, revoked?: boolean, kind?: 'compute' | 'storage', expiresAt?: number }

/** WebFabricRuntime: a running fabric node. */
export class FabricNode {
  readonly init: FabricNodeInit
  readonly revocations = new RevocationSet()
  host!: Host
  identity!: Identity
  manifest!: PolicyManifest
  membership!: MembershipService
  pubsub!: PubSubService
  verifier!: CredentialVerifier
  /** the last streams the protocol guard refused (newest last, at most 100) */
  readonly violations: Violation[] = []
  adminUrl?: string
  adminToken?: string
  /** base URL of the participant page when the node serves the web app */
  webUrl?: string
  /** set when the node serves the compute role */
  computeWorker?: ComputeWorker
  /** set when the origin granted this node `compute/assign` */
  coordinator?: ComputeCoordinator
  receipts!: ReceiptLog
  /** set when the node serves the compute role: runs processes */
  processHost?: ProcessHost
  /** set when the origin granted this node `compute/spawn`: places processes */
  processes?: ProcessManager
  /** set when the node holds data (storage role) or may put and get */
  storage?: StorageRuntime
  /** whether the origin let this node write to storage (storage/put), and compute's view of the storage */
  private storageCanPut = false
  private taskStorageView?: TaskStorage
  private pool?: SandboxPool
  private verifyPool?: SandboxPool
  private keyring!: Keyring
  private memberCredential!: Uint8Array
  private memberCapability?: Promise<Capability>
  /** this node's storage/hold grant, delegated to tabs that lend storage */
  private holdCredential?: Uint8Array
  private holdCapability?: Promise<Capability>
  private admin?: AdminServer
  private web?: WebGateway
  private stopLoadReport?: () => void
  private leases: LeaseRecord[] = []
  private leaseTimer?: ReturnType<typeof setTimeout>
  private running = false
  private readonly stopped = Promise.withResolvers<void>()
  private readonly now: () => number
  private revocationFeed!: RevocationFeed

  constructor (init: FabricNodeInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  get peerId (): string { return this.host.peerId.toString() }
  get did (): string { return this.identity.did }
  get roles (): string[] { return this.init.roles ?? (this.init.rendezvous === true ? ['rendezvous'] : ['compute']) }
  /** Resolves when the node has stopped (shutdown via admin, lease end, or stop()). */
  get whenStopped (): Promise<void> { return this.stopped.promise }

  async start (): Promise<void> {
    const log = this.init.log ?? (() => {})
    if (this.init.v8Tuning !== false) tuneV8ForBytes()
    this.manifest = await verifyManifest(this.init.manifest)
    const dir = this.init.dataDir
    await ensureDir(dir)
    this.keyring = await loadKeyring(dir)
    this.identity = await this.keyring.identityFor(this.manifest.origin, epochAt(this.now(), IDENTITY_ROTATION_MS))
    await this.loadRevocations()

    this.host = await createHost({
      privateKey: await libp2pKeyOf(this.identity),
      listen: this.init.listen ?? ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
      relayServer: this.init.rendezvous === true,
      allowLoopback: this.init.allowLoopback
    })
    installProtocolGuards(this.host, defaultGuardRules(MAX_GOSSIPSUB_FRAME), v => {
      if (this.violations.push(v) > 100) this.violations.shift()
      log(`refused a ${v.protocol} stream from ${v.peer} and disconnected it: ${v.reason}`)
    })
    this.verifier = new CredentialVerifier({ origin: this.manifest.origin, revocations: this.revocations, now: this.now })
    const credentials = this.init.credentials ?? []
    this.memberCredential = await this.findCredential(credentials)

    await this.host.start()
    const addrs = this.host.getMultiaddrs().map(a => a.toString())
    const slots = this.computeSlots()
    this.receipts = new ReceiptLog(join(dir, 'receipts.jsonl'))
    this.membership = new MembershipService(this.host, {
      identity: this.identity,
      credential: this.memberCredential,
      verifier: this.verifier,
      // the storage role is claimed only once storage runs (startStorage): a
      // writer or repair leader that picked this node before would fail, and
      // a repair leader would then skip it as a failed target for minutes
      info: { roles: this.roles.filter(r => r !== 'storage'), capacity: { cpus: cpus().length, memoryMiB: Math.floor(totalmem() / 2 ** 20), slots, ...(this.roles.includes('storage') ? { storageMiB: this.manifest.qos.storageMiB } : {}) }, load: { cpu: 0 }, addrs },
      bootstrap: this.init.bootstrap ?? this.manifest.rendezvous,
      intervalMs: this.init.membership?.intervalMs,
      ttlMs: this.init.membership?.ttlMs,
      log
    })
    const prefix = await topicPrefix(this.manifest.origin)
    this.pubsub = new PubSubService(this.host, { origin: this.manifest.origin, prefix, verifier: this.verifier, grants: credentials, log })
    this.pubsub.start()
    this.revocationFeed = new RevocationFeed(this.host, { topic: `${prefix}revocations`, verifier: this.verifier, credential: this.memberCredential, accept: async rev => await this.acceptRevocation(rev) })
    this.revocationFeed.start()
    this.running = true
    await this.membership.start()
    await this.grantRoleLease()
    await this.startCompute(credentials, slots, log)
    if (this.pool != null) this.stopLoadReport = reportLoad(this.membership, this.pool)
    await this.startStorage(credentials, log)
    if (this.storage?.store != null) this.membership.update({ roles: this.roles })

    if (this.init.admin !== false) {
      this.adminToken = newAdminToken()
      this.admin = await startAdminServer({ ...this.init.admin, token: this.adminToken, ops: this.adminOps(), log })
      this.adminUrl = this.admin.url
      await writeJson(join(dir, 'admin.json'), { url: this.adminUrl, token: this.adminToken, peerId: this.peerId, pid: process.pid }, { secret: true })
    }
    if (this.init.web != null) {
      this.web = await startWebGateway({ ...this.init.web, manifest: signedManifestToJSON(this.init.manifest), enrol: async req => await this.enrol(req), log })
      this.webUrl = this.web.url
    }
    log(`node ${this.peerId} (${this.roles.join(',')}) started on ${addrs.join(' ')}`)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    clearTimeout(this.leaseTimer)
    this.stopLoadReport?.()
    await this.web?.close()
    await this.admin?.close()
    this.coordinator?.stop()
    this.processes?.stop()
    await this.processHost?.stop()
    await this.computeWorker?.stop()
    await this.storage?.stop()
    await this.membership.stop()
    this.pubsub.stop()
    await this.host.stop()
    await this.pool?.close()
    await this.verifyPool?.close()
    await this.receipts?.close()
    this.stopped.resolve()
  }

  /** Multiaddrs others dial this node on (with /p2p/). */
  addrs (): string[] {
    return this.host.getMultiaddrs().map(a => a.toString())
  }

  /** Revoke a token this node issued (e.g. its lease) and gossip the revocation. */
  async revokeToken (capability: Capability): Promise<Revocation> {
    const rev = await revoke(this.identity, capability, this.now())
    await this.revocationFeed.publish(rev)
    return rev
  }

  private async findCredential (credentials: Uint8Array[]): Promise<Uint8Array> {
    const self = this.identity.did
    const errors: string[] = []
    for (const bytes of credentials) {
      try {
        await this.verifier.check(this.peerIdForSelf(), bytes, MEMBERSHIP_NEED)
        return bytes
      } catch (err) {
        errors.push((err as Error).message)
      }
    }
    throw new NotRunningError(`this node (${self}) holds no membership capability from origin ${this.manifest.origin}` +
      (errors.length > 0 ? ` (${errors.join('; ')})` : '') + '; ask the origin to grant one (webfabric up does this for local fabrics)')
  }

  private peerIdForSelf (): string { return this.host.peerId.toString() }

  /**
   * Enrol a tab: delegate this node's membership capability (and storage/hold, when the tab lends
   * storage and this node holds it) to the tab's identity, for no longer than the lease it asks for,
   * the manifest's longest lease, or this node's own grant.
   */
  private async enrol (req: JoinRequest): Promise<JoinResponse> {
    if (!this.running) throw new NotRunningError('the node is stopping; try again in a moment')
    // decoded once: every enrolment delegates the same grant
    this.memberCapability ??= decodeCapability(this.memberCredential)
    const parent = await this.memberCapability
    const now = this.now()
    const expiresAt = Math.min(now + req.durationMs, now + this.manifest.qos.leaseMaxMs, parent.payload.exp)
    if (expiresAt <= now + 60_000) throw new Error('this node can no longer enrol tabs: its own membership expires within a minute')
    const cap = await delegate(this.identity, parent, { audience: req.did, expiresAt, now })
    const credentials = [toBase64url(cap.bytes)]
    // a tab lending storage may hold data for the fabric, under this node's own grant
    if ((req.storageMiB ?? 0) > 0 && this.holdCredential != null) {
      this.holdCapability ??= decodeCapability(this.holdCredential)
      const hold = await this.holdCapability
      if (hold.payload.exp > now + 60_000) {
        const held = await delegate(this.identity, hold, { audience: req.did, abilities: [STORAGE_HOLD_NEED.ability], expiresAt: Math.min(expiresAt, hold.payload.exp), now })
        credentials.push(toBase64url(held.bytes))
      }
    }
    // the rendezvous first (it relays between tabs), then this node itself; WebSockets only
    const bootstrap = [...new Set([...this.manifest.rendezvous, ...this.addrs()])].filter(a => a.includes('/ws/') && !a.includes('/p2p-circuit'))
    return { credentials, expiresAt, bootstrap }
  }

  // -- compute ---------------------------------------------------------------

  /** Sandbox domains this node lends: the init's, else cores × the lease's CPU share (at least 1); 0 without the compute role. */
  private computeSlots (): number {
    if (!this.roles.includes('compute')) return 0
    return this.init.compute?.slots ?? Math.max(1, Math.round(cpus().length * this.manifest.qos.cpuShare))
  }

  private async startCompute (credentials: Uint8Array[], slots: number, log: (msg: string) => void): Promise<void> {
    const watchdogMs = this.init.compute?.watchdogMs
    const sliceFuel = this.init.compute?.sliceFuel
    if (slots > 0) {
      // the lease's CPU share of the whole device, spread over the domains
      const share = Math.min(1, cpus().length * this.manifest.qos.cpuShare / slots)
      this.pool = new SandboxPool({ size: slots, cpuShare: share, watchdogMs, sliceFuel, memoryLimitBytes: this.manifest.qos.memoryMiB * 2 ** 20, outputLimitBytes: TASK_OUTPUT_LIMIT_BYTES })
      if (this.init.compute?.prestart === true) this.pool.prestart()
      this.computeWorker = new ComputeWorker(this.host, {
        identity: this.identity,
        origin: this.manifest.origin,
        verifier: this.verifier,
        pool: this.pool,
        receipts: this.receipts,
        modules: diskModuleStore(join(this.init.dataDir, 'modules')),
        maxMemoryBytes: this.manifest.qos.memoryMiB * 2 ** 20,
        lease: () => this.activeLease(),
        storage: () => this.taskStorage(),
        saboteur: this.init.compute?.saboteur,
        log
      })
      await this.computeWorker.start()
      this.processHost = new ProcessHost(this.host, {
        identity: this.identity,
        origin: this.manifest.origin,
        verifier: this.verifier,
        receipts: this.receipts,
        maxProcesses: Math.max(2, slots * 2),
        maxMemoryBytes: this.manifest.qos.memoryMiB * 2 ** 20,
        domain: { cpuShare: share, sliceFuel },
        lease: () => this.activeLease(),
        publish: async (topic, data) => await this.pubsub.publish(topic, data),
        log
      })
      await this.processHost.start()
    }
    const spawn = await this.findOptionalCredential(credentials, PROC_SPAWN_NEED)
    if (spawn != null) this.processes = new ProcessManager(this.host, { credential: spawn, log })
    const assign = await this.findOptionalCredential(credentials, COMPUTE_ASSIGN_NEED)
    if (assign != null) {
      const repPath = join(this.init.dataDir, 'reputation.json')
      const coordinatorInit = {
        identity: this.identity,
        credential: assign,
        origin: this.manifest.origin,
        pool: () => (this.verifyPool ??= new SandboxPool({ size: 1, watchdogMs, sliceFuel, outputLimitBytes: TASK_OUTPUT_LIMIT_BYTES })),
        storage: () => this.taskStorage(),
        replicas: this.manifest.redundancy.replicas,
        quorum: this.manifest.redundancy.quorum,
        onReputation: (r: ReputationSnapshot) => { void writeJson(repPath, r).catch(() => {}) },
        log
      }
      try {
        this.coordinator = new ComputeCoordinator(this.host, { ...coordinatorInit, reputation: await readJson<ReputationSnapshot>(repPath) })
      } catch (err) {
        // reputations that do not load are not worth refusing to start over: begin afresh
        log(`ignoring ${repPath}: ${(err as Error).message}`)
        this.coordinator = new ComputeCoordinator(this.host, coordinatorInit)
      }
      let queued = false
      const refresh = (): void => {
        if (queued) return
        queued = true
        queueMicrotask(() => { queued = false; if (this.running) this.coordinator?.setMembers(this.membership.view()) })
      }
      for (const ev of ['join', 'update', 'leave']) this.membership.addEventListener(ev, refresh)
      refresh()
    }
  }

  /** The lease of `kind` in force: granted at start, not revoked, not expired. */
  private activeLease (kind: 'compute' | 'storage' = 'compute'): { id: string, expiresAt: number } | undefined {
    if (!this.running) return undefined
    const rec = this.leases.findLast(l => (l.kind ?? 'compute') === kind)
    if (rec == null || this.revocations.revokers(rec.id).includes(this.did)) return undefined
    if (rec.expiresAt != null && rec.expiresAt <= this.now()) return undefined
    return { id: rec.id, expiresAt: rec.expiresAt ?? Number.MAX_SAFE_INTEGER }
  }

  // -- storage ---------------------------------------------------------------

  private async startStorage (credentials: Uint8Array[], log: (msg: string) => void): Promise<void> {
    // storage/hold lets a node hold data (with the storage role) and enrol tabs that lend storage (with or without it)
    this.holdCredential = await this.findOptionalCredential(credentials, STORAGE_HOLD_NEED)
    const hold = this.roles.includes('storage') ? this.holdCredential : undefined
    if (this.roles.includes('storage') && hold == null) log('this node has the storage role but no storage/hold capability from the origin: it holds no data')
    // the client capability: one granting get (and put, when the origin allows this node to write)
    const put = await this.findOptionalCredential(credentials, STORAGE_PUT_NEED)
    const client = put != null && await this.grants(put, STORAGE_GET_NEED) ? put : await this.findOptionalCredential(credentials, STORAGE_GET_NEED)
    if (hold == null && client == null) return
    this.storageCanPut = client != null && client === put
    this.storage = await startNodeStorage({
      host: this.host,
      identity: this.identity,
      verifier: this.verifier,
      dataDir: this.init.dataDir,
      holdCredential: hold,
      clientCredential: client,
      clientCanPut: this.storageCanPut,
      quotaBytes: this.manifest.qos.storageMiB * 2 ** 20,
      lease: () => this.activeLease('storage'),
      members: () => this.membership.view(),
      gcMs: this.init.storage?.gcMs,
      scrubMs: this.init.storage?.scrubMs,
      repair: this.init.storage?.repair,
      log
    })
    let queued = false
    const refresh = (): void => {
      if (queued) return
      queued = true
      queueMicrotask(() => { queued = false; if (this.running) this.storage?.viewChanged() })
    }
    for (const ev of ['join', 'update', 'leave']) this.membership.addEventListener(ev, refresh)
  }

  private async grants (bytes: Uint8Array, need: { resource: string, ability: string }): Promise<boolean> {
    try {
      await this.verifier.check(this.peerIdForSelf(), bytes, need)
      return true
    } catch {
      return false
    }
  }

  /** Large task inputs and outputs go through the fabric's storage, when this node takes part in it. */
  private taskStorage (): TaskStorage | undefined {
    if (this.storage == null) return undefined
    this.taskStorageView ??= taskStorage(this.storage.service, this.storageCanPut)
    return this.taskStorageView
  }

  private storageService (): StorageRuntime {
    if (this.storage == null) throw new NotRunningError('this node takes no part in storage: the origin granted it no storage capability')
    return this.storage
  }

  private async findOptionalCredential (credentials: Uint8Array[], need: { resource: string, ability: string }): Promise<Uint8Array | undefined> {
    for (const bytes of credentials) {
      try {
        await this.verifier.check(this.peerIdForSelf(), bytes, need)
        return bytes
      } catch {}
    }
    return undefined
  }

  private manager (): ProcessManager {
    if (this.processes == null) throw new NotRunningError('this node does not manage processes: the origin granted it no compute/spawn capability')
    return this.processes
  }

  /** Start a process on a worker (this node must hold compute/spawn). */
  async spawnProcess (spec: ProcSpec): Promise<ReturnType<ProcessManager['list']>[number]> {
    return await this.manager().spawn(spec, this.membership.view())
  }

  /** Wait for a process, receiving its output. */
  async waitProcess (id: string, onEvent?: (e: ProcEvent) => void): Promise<ReturnType<ProcessManager['list']>[number]> {
    return await this.manager().wait(id, onEvent)
  }

  /** Run a job on the fabric (this node must be a coordinator). */
  async submitJob (spec: JobSpec, onProgress?: (p: JobProgress) => void): Promise<Awaited<ReturnType<ComputeCoordinator['submit']>>> {
    if (this.coordinator == null) throw new NotRunningError('this node is not a compute coordinator: the origin granted it no compute/assign capability')
    return await this.coordinator.submit(spec, onProgress)
  }

  // -- revocations ---------------------------------------------------------

  private async loadRevocations (): Promise<void> {
    const stored = await readJson<string[]>(join(this.init.dataDir, 'revocations.json')) ?? []
    for (const b64 of stored) {
      try {
        const rev = decodeRevocation(fromBase64url(b64))
        if (await verifyRevocationSignature(rev)) this.revocations.add(rev)
      } catch {}
    }
  }

  private async acceptRevocation (rev: Revocation): Promise<boolean> {
    if (!this.revocations.add(rev)) return false
    this.verifier.clear()
    await writeJson(join(this.init.dataDir, 'revocations.json'), this.revocations.list().map(r => toBase64url(encodeRevocation(r))))
    return true
  }

  // -- leases ----------------------------------------------------------------

  /** Grant the origin a lease over this device for the node's roles, within the manifest's QoS. */
  private async grantRoleLease (): Promise<void> {
    const path = join(this.init.dataDir, 'leases.json')
    this.leases = await this.unexpiredLeases(await readJson<LeaseRecord[]>(path) ?? [])
    const q = this.manifest.qos
    const kinds: Array<'compute' | 'storage'> = this.roles.includes('storage') ? ['compute', 'storage'] : ['compute']
    for (const kind of kinds) {
      const lease = await grantLease(this.identity, {
        origin: this.manifest.origin,
        kind,
        qos: { cpuShare: q.cpuShare, memoryMiB: q.memoryMiB, storageMiB: q.storageMiB, bandwidthKiBps: q.bandwidthKiBps },
        durationMs: q.leaseMaxMs,
        now: this.now()
      })
      this.leases.push({ id: lease.id, token: toBase64url(lease.bytes), kind, expiresAt: lease.payload.exp })
    }
    await writeJson(path, this.leases)
    // the fabric may use this device only while the lease lasts
    this.leaseTimer = setTimeout(() => { void this.stop() }, Math.min(q.leaseMaxMs, 2 ** 31 - 1))
  }

  private async unexpiredLeases (records: LeaseRecord[]): Promise<LeaseRecord[]> {
    const now = this.now()
    const keep: LeaseRecord[] = []
    for (const rec of records) {
      try {
        if ((await decodeCapability(fromBase64url(rec.token))).payload.exp > now) keep.push(rec)
      } catch {} // an unreadable record is dropped, not fatal
    }
    return keep
  }

  /** The leases this node granted the origin (expired ones are dropped at start). */
  async leasesGranted (): Promise<Array<ReturnType<typeof describeLease> & { revoked: boolean }>> {
    const out: Array<ReturnType<typeof describeLease> & { revoked: boolean }> = []
    for (const rec of this.leases) {
      const cap = await decodeCapability(fromBase64url(rec.token))
      // revoked only by a revocation this node (the lease's issuer) signed
      out.push({ ...describeLease(cap), revoked: this.revocations.revokers(rec.id).includes(this.did) })
    }
    return out
  }

  private async revokeLease (id: string): Promise<unknown> {
    const rec = this.leases.find(l => l.id === id)
    if (rec == null) throw new RangeError(`this node granted no lease ${id}; see \`webfabric lease show\``)
    const cap = await decodeCapability(fromBase64url(rec.token))
    // revoking the lease withdraws the device: running work stops at its next fuel slice
    this.computeWorker?.stopWork()
    this.processHost?.killAll()
    await this.revokeToken(cap)
    // and the node leaves the fabric
    setTimeout(() => { void this.stop() }, 200)
    return { revoked: id }
  }

  // -- admin -----------------------------------------------------------------

  private adminOps (): AdminOps {
    const live = (): void => { if (!this.running) throw new NotRunningError() }
    return {
      info: () => ({
        peerId: this.peerId,
        did: this.did,
        origin: this.manifest.origin,
        manifest: { name: this.manifest.name, version: this.manifest.version },
        roles: this.roles,
        addrs: this.addrs(),
        pid: process.pid
      }),
      members: () => this.membership.view(),
      publish: async (topic, data) => { live(); return await this.pubsub.publish(topic, data) },
      subscribe: async (topic, onMessage) => {
        live()
        await this.pubsub.subscribe(topic)
        const handler = (evt: Event): void => {
          const m = (evt as CustomEvent).detail
          if (m.topic === topic) onMessage(m)
        }
        this.pubsub.addEventListener('message', handler)
        return () => this.pubsub.removeEventListener('message', handler)
      },
      leases: async () => await this.leasesGranted(),
      revokeLease: async id => await this.revokeLease(id),
      stats: async () => {
        const storageStats = this.storage != null ? await this.storage.stats() : {}
        return {
        connections: this.host.getConnections().length,
        membershipRejected: this.membership.rejected,
        guardViolations: this.violations.length,
        pubsubRejected: this.pubsub.rejected,
        revocations: this.revocations.list().length,
        computeSlots: this.pool?.size ?? 0,
        computeRuns: this.computeWorker?.runs ?? 0,
        computeRefused: this.computeWorker?.refused ?? 0,
        ...storageStats,
        ...(this.coordinator != null ? { coordinatorAssigned: this.coordinator.stats().assigned, coordinatorAccepted: this.coordinator.stats().accepted, coordinatorBlacklisted: this.coordinator.stats().blacklisted } : {})
        }
      },
      shutdown: async () => { setTimeout(() => { void this.stop() }, 50) },
      submitJob: async (spec, onProgress) => { live(); return await this.submitJob(spec, onProgress) },
      jobs: async () => this.coordinator?.jobList() ?? [],
      receipts: async opts => await this.receipts.list(opts),
      procSpawn: async spec => { live(); return await this.manager().spawn(spec, this.membership.view()) },
      procList: async () => this.manager().list(),
      procKill: async id => await this.manager().kill(id),
      procWait: async (id, onEvent) => await this.manager().wait(id, onEvent),
      storagePut: async (opts, onProgress) => { live(); return startPut(this.storageService().service, opts, onProgress) },
      storageGet: async (cap, onProgress) => { live(); return await startGet(this.storageService().service, cap, onProgress) },
      storageStat: async cap => { live(); return await this.storageService().service.stat(parseReadCap(cap)) },
      storagePin: async (cap, pin) => { live(); return await this.storageService().service.pin(parseReadCap(cap), pin) },
      storageScrub: async () => { live(); return await this.storageService().scrub() },
      storageHeld: async () => this.storage?.service.held() ?? []
    }
  }
}
