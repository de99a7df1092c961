// Process management (Wetware's exec/ps): long-running wasm processes.
// A ProcessManager (on a node the origin granted `compute/spawn`) places a
// process on a compute worker and keeps the table operators see (`proc ls`);
// the worker's ProcessHost runs it in a sandbox domain of its own under the
// process profile (it may sleep, read the clock, and publish on exactly the
// topics it was granted), streams its stdout and stderr back, and signs a
// receipt when it ends. One stream per process carries everything; the
// manager resetting it (kill) stops the process at its next fuel slice.
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import { SandboxDomain, type SandboxInit, signReceipt } from '@webfabric/compute'
import { type Identity, MalformedError, decode, encode } from '@webfabric/protocol'
import { DEFAULT_TASK_MEMORY_BYTES, MAX_FUEL, MAX_INPUT_BYTES, MAX_MEMORY_BYTES, MAX_MODULE_BYTES } from './compute-wire.ts'
import { rawCid } from './compute-worker.ts'
import { FRAME_TIMEOUT_MS } from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import type { MemberView } from './membership-service.ts'
import { didOfPeer } from './peer-identity.ts'
import type { ReceiptLog } from './receipt-log.ts'
import { isTransportFailure } from './stream-errors.ts'

/** The process protocol id. */
export const PROC_PROTOCOL = '/webfabric/proc/1.0.0'
/** What a manager's capability must grant (issued by the origin). */
export const PROC_SPAWN_NEED = { resource: 'fabric/compute', ability: 'compute/spawn' }
/** Largest frame: a spawn (module + input) or an output chunk. */
export const MAX_PROC_FRAME = MAX_MODULE_BYTES + MAX_INPUT_BYTES + 64 * 1024
/** Topics a process may be granted, and the longest topic name. */
export const MAX_PROC_TOPICS = 16
const MAX_TOPIC_CHARS = 128
/** Output kept per process for `proc wait` after the fact (bytes, newest kept). */
const KEEP_OUTPUT_BYTES = 1024 * 1024
/** Finished processes kept in the table. */
const KEEP_FINISHED = 256

/** What `spawn` takes. */
export interface ProcSpec {
  module: Uint8Array
  /** the process's input (read with input()), default empty */
  input?: Uint8Array
  /** peer id of the worker to run on (default: the least-loaded compute member) */
  on?: string
  /** pub-sub topics the process may publish on: its only capabilities */
  topics?: string[]
  /** fuel limit (default: effectively unlimited) */
  fuelLimit?: number
  memoryLimitBytes?: number
  name?: string
}

/** One process as the manager's table shows it. */
export interface ProcInfo {
  id: string
  name: string
  peer: string
  module: string
  topics: string[]
  state: 'starting' | 'running' | 'exited' | 'killed' | 'failed'
  startedAt: number
  endedAt?: number
  /** the VM's status when it exited on its own (ok, trap, abort, out-of-fuel, output-limit) */
  status?: string
  message?: string
  fuel?: number
  commitment?: string
}

/** Output of a process: stdout bytes or a stderr line. */
export interface ProcEvent { stream: 'stdout' | 'stderr', data: Uint8Array | string }

/** Thrown by the manager for a process it cannot start or does not know. */
export class ProcessError extends Error {
  static name = 'ProcessError'
  constructor (message = 'the process request failed', options?: ErrorOptions) { super(message, options); this.name = 'ProcessError' }
}

// -- frames -------------------------------------------------------------------

interface SpawnFrame { k: 'spawn', c: Uint8Array, id: string, mb: Uint8Array, i: Uint8Array, f: number, mem: number, tp: string[] }
type HostFrame =
  | { k: 'started' }
  | { k: 'out', d: Uint8Array }
  | { k: 'err', t: string }
  | { k: 'exit', st: string, msg?: string, fuel: number, cm: string }
  | { k: 'error', name: string, message: string }

function field<T> (ok: boolean, value: T, name: string, what: string): T {
  if (!ok) throw new MalformedError(`process frame field ${name} must be ${what}`, { field: name })
  return value
}

function decodeSpawn (data: Uint8Array): SpawnFrame {
  const x = decode(data, { maxBytes: MAX_PROC_FRAME, canonical: false }) as Record<string, unknown>
  if (x == null || typeof x !== 'object' || x.k !== 'spawn') throw new MalformedError('the first process frame is a spawn', { field: 'k' })
  for (const key of Object.keys(x)) if (!['k', 'c', 'id', 'mb', 'i', 'f', 'mem', 'tp'].includes(key)) throw new MalformedError(`unknown process frame field ${key}`, { field: key })
  const tp = field(Array.isArray(x.tp) && x.tp.length <= MAX_PROC_TOPICS && x.tp.every(t => typeof t === 'string' && t.length > 0 && t.length <= MAX_TOPIC_CHARS), x.tp as string[], 'tp', `at most ${MAX_PROC_TOPICS} topic names`)
  return {
    k: 'spawn',
    c: field(x.c instanceof Uint8Array && x.c.byteLength <= 16 * 1024, x.c as Uint8Array, 'c', 'a capability'),
    id: field(typeof x.id === 'string' && x.id.length > 0 && x.id.length <= 64, x.id as string, 'id', 'a short string'),
    mb: field(x.mb instanceof Uint8Array && x.mb.byteLength > 0 && x.mb.byteLength <= MAX_MODULE_BYTES, x.mb as Uint8Array, 'mb', 'module bytes'),
    i: field(x.i instanceof Uint8Array && x.i.byteLength <= MAX_INPUT_BYTES, x.i as Uint8Array, 'i', 'input bytes'),
    f: field(Number.isSafeInteger(x.f) && (x.f as number) > 0 && (x.f as number) <= MAX_FUEL, x.f as number, 'f', 'a fuel limit'),
    mem: field(Number.isSafeInteger(x.mem) && (x.mem as number) >= 65536 && (x.mem as number) <= MAX_MEMORY_BYTES, x.mem as number, 'mem', 'a memory cap'),
    tp
  }
}

function decodeHostFrame (data: Uint8Array): HostFrame {
  const x = decode(data, { maxBytes: MAX_PROC_FRAME, canonical: false }) as Record<string, unknown>
  switch (x?.k) {
    case 'started': return { k: 'started' }
    case 'out': return { k: 'out', d: field(x.d instanceof Uint8Array, x.d as Uint8Array, 'd', 'bytes') }
    case 'err': return { k: 'err', t: field(typeof x.t === 'string' && x.t.length <= 65536, x.t as string, 't', 'text') }
    case 'exit': return {
      k: 'exit',
      st: field(typeof x.st === 'string' && x.st.length <= 32, x.st as string, 'st', 'a status'),
      msg: x.msg === undefined ? undefined : field(typeof x.msg === 'string' && x.msg.length <= 1024, x.msg as string, 'msg', 'text'),
      fuel: field(Number.isSafeInteger(x.fuel), x.fuel as number, 'fuel', 'an integer'),
      cm: field(typeof x.cm === 'string' && x.cm.length <= 256, x.cm as string, 'cm', 'a commitment')
    }
    case 'error': return {
      k: 'error',
      name: field(typeof x.name === 'string' && x.name.length <= 64, x.name as string, 'name', 'an error name'),
      message: field(typeof x.message === 'string' && x.message.length <= 1024, x.message as string, 'message', 'text')
    }
  }
  throw new MalformedError('unknown process frame', { field: 'k' })
}

function clean (frame: Record<string, unknown>): Uint8Array {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(frame)) if (v !== undefined) out[k] = v
  return encode(out)
}

// -- the worker side ------------------------------------------------------------

/** Options of {@link ProcessHost}. */
export interface ProcessHostInit {
  identity: Identity
  origin: string
  verifier: CredentialVerifier
  receipts: ReceiptLog
  /** processes this node runs at once (each in its own sandbox domain) */
  maxProcesses: number
  maxMemoryBytes: number
  /** options of each process's sandbox domain (CPU share, slice) */
  domain: SandboxInit
  lease: () => { id: string } | undefined
  /** publish on behalf of a process (only topics it was granted reach here) */
  publish: (topic: string, data: Uint8Array) => Promise<unknown>
  log?: (msg: string) => void
}

/** Runs processes on this node for managers that hold the origin's `compute/spawn`. */
export class ProcessHost {
  private readonly host: Host
  private readonly init: ProcessHostInit
  private readonly running = new Map<string, SandboxDomain>()
  private started = false
  /** spawn streams refused (bad frame, capability, no lease) */
  refused = 0

  constructor (host: Host, init: ProcessHostInit) {
    this.host = host
    this.init = init
  }

  get count (): number { return this.running.size }

  async start (): Promise<void> {
    await this.host.handle(PROC_PROTOCOL, (stream, conn) => { void this.onStream(stream, conn) }, { maxInboundStreams: 32 })
    this.started = true
  }

  /** Stop every process (at its next fuel slice) and stop serving. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.host.unhandle(PROC_PROTOCOL)
    await Promise.all([...this.running.values()].map(async d => await d.close()))
  }

  /** Stop every running process at its next fuel slice (the lease was revoked). */
  killAll (): void {
    for (const d of this.running.values()) d.abort()
  }

  private async onStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_PROC_FRAME })
    let writes: Promise<void> = Promise.resolve()
    const send = (frame: Record<string, unknown>): void => {
      writes = writes.then(async () => { await lp.write(clean(frame), { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS * 6) }) }).catch(() => {})
    }
    let spawn: SpawnFrame
    try {
      spawn = decodeSpawn((await lp.read({ signal: AbortSignal.timeout(FRAME_TIMEOUT_MS * 4) })).subarray())
      await this.init.verifier.check(from, spawn.c, PROC_SPAWN_NEED)
    } catch (err) {
      if (isTransportFailure(err)) { stream.abort(err as Error); return }
      this.refused++
      this.init.log?.(`refused a process spawn from ${from} and disconnected it: ${(err as Error).message}`)
      stream.abort(err as Error)
      disconnect(this.host, conn.remotePeer, err as Error)
      return
    }
    const lease = this.init.lease()
    const refuse = async (name: string, message: string): Promise<void> => {
      send({ k: 'error', name, message })
      await writes
      await stream.close().catch(() => {})
    }
    if (lease == null || !this.started) { this.refused++; await refuse('NoLeaseError', 'this device holds no compute lease for the origin in force'); return }
    if (this.running.size >= this.init.maxProcesses) { await refuse('BusyError', `this node already runs ${this.running.size} process(es), its most; choose another with --on`); return }
    if (spawn.mem > this.init.maxMemoryBytes) { await refuse('OverLeaseError', `the process asks for ${spawn.mem} bytes of memory; this device's lease lends at most ${this.init.maxMemoryBytes}`); return }
    if (this.running.has(spawn.id)) { await refuse('ProcessError', `a process ${spawn.id} already runs here`); return }

    const domain = new SandboxDomain({ ...this.init.domain, memoryLimitBytes: spawn.mem })
    this.running.set(spawn.id, domain)
    // the manager resetting or closing the stream stops the process (it sends nothing more)
    const killed = new AbortController()
    void (async () => {
      try { await lp.read() } catch {}
      killed.abort()
    })()
    send({ k: 'started' })
    const started = Date.now()
    try {
      const r = await domain.run(
        { module: spawn.mb, input: spawn.i, fuelLimit: spawn.f, profile: 'process', publishTopics: spawn.tp, memoryLimitBytes: spawn.mem },
        {
          signal: killed.signal,
          watchdogMs: 2 ** 31 - 1,
          onStdout: chunk => send({ k: 'out', d: chunk }),
          onStderr: text => send({ k: 'err', t: text.slice(0, 65536) }),
          onPublish: (topic, data) => { if (spawn.tp.includes(topic)) void this.init.publish(topic, data).catch(err => this.init.log?.(`process ${spawn.id} publish failed: ${(err as Error).message}`)) }
        })
      const receipt = await signReceipt(this.init.identity, {
        v: 1,
        origin: this.init.origin,
        job: 'proc',
        task: spawn.id,
        assignment: spawn.id,
        module: r.moduleCid,
        input: r.inputCid,
        output: r.outputCid,
        status: r.status,
        fuel: r.fuel,
        commitment: r.commitment,
        wallMs: Math.round(r.wallMs),
        lease: lease.id,
        worker: this.init.identity.did,
        coordinator: didOfPeer(from),
        at: Date.now()
      })
      await this.init.receipts.append(receipt)
      send({ k: 'exit', st: r.status, msg: r.message?.slice(0, 1024), fuel: r.fuel, cm: r.commitment })
    } catch (err) {
      const e = err as Error
      send({ k: 'error', name: e.name ?? 'Error', message: (e.message ?? String(err)).slice(0, 1024) })
      this.init.log?.(`process ${spawn.id} ended after ${Date.now() - started} ms: ${e.name}`)
    } finally {
      this.running.delete(spawn.id)
      await domain.close()
      await writes
      await stream.close().catch(() => {})
    }
  }
}

// -- the operator side ------------------------------------------------------------

interface Entry {
  info: ProcInfo
  events: ProcEvent[]
  kept: number
  listeners: Set<(e: ProcEvent) => void>
  done: PromiseWithResolvers<ProcInfo>
  stream?: Stream
  lp?: LengthPrefixedStream<Stream>
}

/** Options of {@link ProcessManager}. */
export interface ProcessManagerInit {
  /** the origin's `compute/spawn` capability for this node (encoded) */
  credential: Uint8Array
  log?: (msg: string) => void
}

/** Places processes on workers and keeps the process table. */
export class ProcessManager {
  private readonly host: Host
  private readonly init: ProcessManagerInit
  private readonly table = new Map<string, Entry>()
  private next = 1

  constructor (host: Host, init: ProcessManagerInit) {
    this.host = host
    this.init = init
  }

  /** Start a process; resolves once the worker runs it (or rejects with its refusal). */
  async spawn (spec: ProcSpec, members: MemberView[]): Promise<ProcInfo> {
    if (!(spec.module instanceof Uint8Array) || spec.module.byteLength === 0 || spec.module.byteLength > MAX_MODULE_BYTES) throw new ProcessError(`the module must be 1..${MAX_MODULE_BYTES} bytes of wasm`)
    const input = spec.input ?? new Uint8Array(0)
    if (!(input instanceof Uint8Array) || input.byteLength > MAX_INPUT_BYTES) throw new ProcessError(`the input must be at most ${MAX_INPUT_BYTES} bytes`)
    const topics = spec.topics ?? []
    if (!Array.isArray(topics) || topics.length > MAX_PROC_TOPICS || topics.some(t => typeof t !== 'string' || t.length === 0 || t.length > MAX_TOPIC_CHARS)) {
      throw new ProcessError(`a process may be granted at most ${MAX_PROC_TOPICS} topics of 1..${MAX_TOPIC_CHARS} characters`)
    }
    // checked here, so a bad request is the caller's error rather than a frame the host disconnects us for
    const fuel = spec.fuelLimit ?? MAX_FUEL
    if (!Number.isSafeInteger(fuel) || fuel < 1 || fuel > MAX_FUEL) throw new ProcessError(`fuelLimit must be an integer from 1 to ${MAX_FUEL}`)
    const mem = spec.memoryLimitBytes ?? DEFAULT_TASK_MEMORY_BYTES
    if (!Number.isSafeInteger(mem) || mem < 65536 || mem > MAX_MEMORY_BYTES) throw new ProcessError(`memoryLimitBytes must be an integer from 65536 to ${MAX_MEMORY_BYTES}`)
    if (spec.on != null && typeof spec.on !== 'string') throw new ProcessError('on must be a peer id')
    const workers = members.filter(m => !m.self && m.roles.includes('compute'))
    let peer: string
    if (spec.on != null) {
      if (!workers.some(m => m.peerId === spec.on)) throw new ProcessError(`${spec.on} is not a live compute member; see \`webfabric ls\``)
      peer = spec.on
    } else {
      const busy = (p: string): number => [...this.table.values()].filter(e => e.info.peer === p && (e.info.state === 'running' || e.info.state === 'starting')).length
      const best = workers.sort((a, b) => busy(a.peerId) - busy(b.peerId) || (a.load.cpu ?? 0) - (b.load.cpu ?? 0))[0]
      if (best == null) throw new ProcessError('no compute member to run the process on; start nodes with the compute role')
      peer = best.peerId
    }
    const id = `p${this.next++}-${Date.now().toString(36)}`
    const entry: Entry = {
      info: { id, name: typeof spec.name === 'string' ? spec.name.slice(0, 64) : 'process', peer, module: await rawCid(spec.module), topics, state: 'starting', startedAt: Date.now() },
      events: [],
      kept: 0,
      listeners: new Set(),
      done: Promise.withResolvers()
    }
    entry.done.promise.catch(() => {})
    this.table.set(id, entry)
    this.trim()
    const started = Promise.withResolvers<ProcInfo>()
    try {
      const stream = await this.host.dialProtocol(peerIdFromString(peer), PROC_PROTOCOL, { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS) })
      entry.stream = stream
      entry.lp = lpStream(stream, { maxDataLength: MAX_PROC_FRAME })
      await entry.lp.write(encode({
        k: 'spawn', c: this.init.credential, id, mb: spec.module, i: input, f: fuel, mem, tp: topics
      }), { signal: AbortSignal.timeout(FRAME_TIMEOUT_MS * 6) })
    } catch (err) {
      this.end(entry, { state: 'failed', message: `could not reach ${peer}: ${(err as Error).message}` })
      throw new ProcessError(`could not start the process on ${peer}: ${(err as Error).message}`, { cause: err })
    }
    void this.read(entry, started)
    return await started.promise
  }

  list (): ProcInfo[] {
    return [...this.table.values()].map(e => ({ ...e.info }))
  }

  /** Stop a process at its next fuel slice. */
  async kill (id: string): Promise<ProcInfo> {
    const e = this.entry(id)
    if (e.info.state !== 'running' && e.info.state !== 'starting') return { ...e.info }
    e.info.state = 'killed'
    // resetting the stream is the kill: the host stops the process at its next fuel slice
    // (a kill frame can sit behind a flood of output in the stream's buffers)
    e.stream?.abort(new Error('killed'))
    return await e.done.promise
  }

  /** Wait for a process to end; output so far (kept) and from now on goes to `onEvent`. */
  async wait (id: string, onEvent?: (e: ProcEvent) => void): Promise<ProcInfo> {
    const e = this.entry(id)
    if (onEvent != null) {
      for (const ev of e.events) onEvent(ev)
      e.listeners.add(onEvent)
    }
    try {
      return await e.done.promise
    } finally {
      if (onEvent != null) e.listeners.delete(onEvent)
    }
  }

  /** Stop every process this manager started. */
  stop (): void {
    for (const e of this.table.values()) e.stream?.abort(new Error('manager stopped'))
  }

  private entry (id: string): Entry {
    const e = this.table.get(id)
    if (e == null) throw new ProcessError(`no process ${id}; see \`webfabric proc ls\``)
    return e
  }

  private async read (e: Entry, started: PromiseWithResolvers<ProcInfo>): Promise<void> {
    try {
      for (;;) {
        const f = decodeHostFrame((await e.lp!.read()).subarray())
        switch (f.k) {
          case 'started':
            if (e.info.state === 'starting') e.info.state = 'running'
            started.resolve({ ...e.info })
            break
          case 'out': this.emit(e, { stream: 'stdout', data: f.d }); break
          case 'err': this.emit(e, { stream: 'stderr', data: f.t }); break
          case 'exit':
            this.end(e, { state: e.info.state === 'killed' ? 'killed' : 'exited', status: f.st, message: f.msg, fuel: f.fuel, commitment: f.cm })
            started.resolve({ ...e.info })
            return
          case 'error': {
            const killed = e.info.state === 'killed' && f.name === 'DomainAbortedError'
            this.end(e, { state: killed ? 'killed' : 'failed', message: `${f.name}: ${f.message}` })
            started.reject(new ProcessError(`the worker refused the process: ${f.name}: ${f.message}`))
            return
          }
        }
      }
    } catch (err) {
      this.end(e, { state: e.info.state === 'killed' ? 'killed' : 'failed', message: `lost the process's stream: ${(err as Error).message}` })
      started.reject(new ProcessError(`lost the process on ${e.info.peer}: ${(err as Error).message}`))
    }
  }

  private emit (e: Entry, ev: ProcEvent): void {
    e.events.push(ev)
    e.kept += typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength
    while (e.kept > KEEP_OUTPUT_BYTES && e.events.length > 1) {
      const old = e.events.shift()!
      e.kept -= typeof old.data === 'string' ? old.data.length : old.data.byteLength
    }
    for (const l of e.listeners) l(ev)
  }

  private end (e: Entry, patch: Partial<ProcInfo>): void {
    if (e.info.endedAt != null) return
    Object.assign(e.info, patch, { endedAt: Date.now() })
    e.stream?.close().catch(() => {})
    e.done.resolve({ ...e.info })
  }

  private trim (): void {
    const finished = [...this.table.values()].filter(e => e.info.endedAt != null)
    for (const e of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.table.delete(e.info.id)
  }
}
