// Storage in a tab (WebCASStore's browser holder): blocks in IndexedDB under
// the storage lease's quota, the holdings list and the repair snapshot in a
// second small database, and the same StorageRuntime as a Node holder — the
// storage protocol, repair and scrubbing. A tab's storage is named after its
// peer id and guarded by a Web Lock of the same name while the tab runs, so a
// tab can tell its own data from that of tabs long closed: those databases are
// deleted when a tab starts (the fabric repaired their positions when the tabs
// left). Revoke and the lease's end release the storage: the databases go.
import { type Identity, MalformedError } from '@webfabric/protocol'
import { IdbBlockstore, QuotaBlockstore } from '@webfabric/storage'
import type { CredentialVerifier } from '../credentials.ts'
import type { Host } from '../host.ts'
import type { MemberView } from '../membership-service.ts'
import type { StateFiles } from '../state-files.ts'
import { StorageRuntime, type StorageRuntimeInit } from '../storage-runtime.ts'
import { deleteDatabase, done, openDatabase, request } from './idb.ts'

/** Every database a tab's storage uses begins with this. */
export const TAB_STORAGE_PREFIX = 'webfabric-storage-'
/** How often the storage meter re-reads what is held, ms. */
const USAGE_REFRESH_MS = 1000

/** Options of TabStorage.start. */
export interface TabStorageInit {
  host: Host
  identity: Identity
  verifier: CredentialVerifier
  /** the storage/hold capability the serving node delegated to this tab */
  holdCredential: Uint8Array
  quotaBytes: number
  lease: () => { id: string, expiresAt: number } | undefined
  members: () => MemberView[]
  repair?: StorageRuntimeInit['repair']
  /** the IndexedDB factory (default: globalThis.indexedDB) */
  indexedDB?: IDBFactory
  log?: (msg: string) => void
}

/** What releasing a tab's storage gave back. */
export interface StorageRelease { blocks: number, bytes: number }

/** Another tab of this browser already runs with this identity's storage. */
export class StorageInUseError extends Error {
  static name = 'StorageInUseError'
  constructor (message = 'another tab already holds this identity\'s storage: close it, or join from a fresh tab', options?: ErrorOptions) {
    super(message, options)
    this.name = 'StorageInUseError'
  }
}

/** JSON documents in one IndexedDB object store, written with strict durability. */
function idbStateFiles (factory: IDBFactory, name: string): StateFiles & { close: () => void } {
  const STORE = 'docs'
  let db: Promise<IDBDatabase> | undefined
  const open = (): Promise<IDBDatabase> => (db ??= openDatabase(factory, name, d => { d.createObjectStore(STORE) }))
  return {
    read: async <T>(doc: string) => {
      const value = await request((await open()).transaction(STORE, 'readonly').objectStore(STORE).get(doc))
      if (value === undefined) return undefined
      if (typeof value !== 'string') throw new MalformedError(`${name}/${doc} is not a JSON document`)
      return JSON.parse(value) as T
    },
    write: async (doc, value) => {
      const tx = (await open()).transaction(STORE, 'readwrite', { durability: 'strict' })
      tx.objectStore(STORE).put(JSON.stringify(value), doc)
      await done(tx)
    },
    where: doc => `IndexedDB ${name}/${doc}`,
    close: () => { void db?.then(d => d.close()).catch(() => {}) }
  }
}

/** Storage held by a tab. */
export class TabStorage {
  readonly runtime: StorageRuntime
  /** the database of blocks; the state documents are in `${name}-state` */
  readonly name: string
  private readonly factory: IDBFactory
  private readonly store: QuotaBlockstore
  private readonly files: ReturnType<typeof idbStateFiles>
  private readonly unlock: () => void
  private usage = { blocks: 0, bytes: 0, at: Number.NEGATIVE_INFINITY }
  private stopped?: Promise<void>

  private constructor (name: string, factory: IDBFactory, store: QuotaBlockstore, files: ReturnType<typeof idbStateFiles>, runtime: StorageRuntime, unlock: () => void) {
    this.name = name
    this.factory = factory
    this.store = store
    this.files = files
    this.runtime = runtime
    this.unlock = unlock
  }

  /** Takes the identity's storage lock, deletes the storage of tabs long gone, opens this tab's and starts holding. */
  static async start (init: TabStorageInit): Promise<TabStorage> {
    const factory = init.indexedDB ?? globalThis.indexedDB
    if (factory == null) throw new Error('this browser offers no IndexedDB: the tab cannot lend storage')
    const name = `${TAB_STORAGE_PREFIX}${init.host.peerId.toString()}`
    const unlock = await lockStorage(name)
    try {
      await deleteOrphans(factory, name, init.log)
      const store = new QuotaBlockstore(new IdbBlockstore(name, { indexedDB: factory, verifyOnPut: false }), { limitBytes: init.quotaBytes })
      await store.open()
      const files = idbStateFiles(factory, `${name}-state`)
      const runtime = await StorageRuntime.start({
        host: init.host,
        identity: init.identity,
        verifier: init.verifier,
        files,
        holdCredential: init.holdCredential,
        store,
        quotaBytes: init.quotaBytes,
        lease: init.lease,
        members: init.members,
        repair: init.repair,
        log: init.log
      })
      const ts = new TabStorage(name, factory, store, files, runtime, unlock)
      await ts.refreshUsage()
      return ts
    } catch (err) {
      unlock()
      throw err
    }
  }

  /** What the tab holds now (refreshed at most every second; the meter reads it synchronously). */
  used (): { blocks: number, bytes: number } {
    if (this.stopped == null && performance.now() - this.usage.at >= USAGE_REFRESH_MS) void this.refreshUsage().catch(() => {})
    return { blocks: this.usage.blocks, bytes: this.usage.bytes }
  }

  private async refreshUsage (): Promise<void> {
    this.usage.at = performance.now()
    const s = await this.store.stat()
    this.usage = { ...s, at: this.usage.at }
  }

  /** Stops holding and keeps the data (a departure: the fabric repairs elsewhere; a reload of this tab finds it again). */
  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      try {
        await this.runtime.stop()
      } finally {
        this.files.close()
        await this.store.close().catch(() => {})
        this.unlock()
      }
    })()
    await this.stopped
  }

  /** Stops holding and deletes everything this tab stored (Revoke, the lease's end). */
  async release (): Promise<StorageRelease> {
    let released: StorageRelease = { blocks: 0, bytes: 0 }
    try {
      const s = await this.store.stat()
      released = { blocks: s.blocks, bytes: s.bytes }
    } catch {}
    // the co-holders' leaders rebuild this tab's positions now, not after the grace
    await this.runtime.repair?.handOff().catch(() => {})
    // the lock is held until the databases are gone, so no starting tab sees them as orphans half-way
    await this.runtime.stop().catch(() => {})
    this.files.close()
    await this.store.close().catch(() => {})
    try {
      await deleteDatabase(this.factory, this.name)
      await deleteDatabase(this.factory, `${this.name}-state`)
    } finally {
      this.usage = { blocks: 0, bytes: 0, at: performance.now() }
      this.stopped ??= Promise.resolve()
      this.unlock()
    }
    return released
  }
}

/** Holds the Web Lock `name` until the returned function is called; refuses when another tab holds it. */
async function lockStorage (name: string): Promise<() => void> {
  const locks = globalThis.navigator?.locks
  // without Web Locks (an insecure context) a tab cannot tell its data from others': it keeps its own
  if (locks == null) return () => {}
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  const got = await new Promise<boolean>((resolve, reject) => {
    locks.request(name, { ifAvailable: true }, async lock => {
      resolve(lock != null)
      if (lock != null) await held
    }).catch(reject)
  })
  if (!got) throw new StorageInUseError()
  return release
}

/** Delete the storage databases no running tab holds (tabs closed without Revoke). */
async function deleteOrphans (factory: IDBFactory, own: string, log?: (msg: string) => void): Promise<void> {
  const locks = globalThis.navigator?.locks
  if (locks == null || typeof factory.databases !== 'function') return
  const held = new Set(((await locks.query()).held ?? []).map(l => l.name))
  for (const db of await factory.databases()) {
    const name = db.name ?? ''
    if (!name.startsWith(TAB_STORAGE_PREFIX)) continue
    const base = name.endsWith('-state') ? name.slice(0, -'-state'.length) : name
    if (base === own || held.has(base)) continue
    log?.(`storage: deleting ${name}, left by a tab that is gone`)
    await deleteDatabase(factory, name).catch(() => {})
  }
}
