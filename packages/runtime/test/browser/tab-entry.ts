// Runs in Chromium (bundled by scripts/browser.ts): a tab node joins a fabric
// whose rendezvous and members are Node processes, and reports what it sees.
import { type RevokeReport, type TabLeaseChoice, type TabMeters, type TabReceipt, TabNode, signedManifestFromJSON } from '../../src/browser/index.ts'

let tab: TabNode | undefined
const inbox: string[] = []

/**
 * Starts the tab with the manifest (JSON), its grants (bytes) and the rendezvous's ws address; with
 * `lease`, it also computes (one sandbox domain on the bundled /worker.js, unless `compute: false`)
 * and, granted storage/hold, holds data under that lease.
 */
export async function join (manifest: unknown, credentials: number[][], bootstrap: string[], secret: number[], lease?: TabLeaseChoice, opts: { compute?: boolean } = {}): Promise<{ peerId: string, did: string, leaseId?: string }> {
  tab = new TabNode({
    manifest: signedManifestFromJSON(manifest),
    credentials: credentials.map(c => new Uint8Array(c)),
    bootstrap,
    keyringSecret: new Uint8Array(secret),
    membership: { intervalMs: 250, ttlMs: 4000 },
    storage: { repair: { graceMs: 2000, antiEntropyMs: 1000 } },
    allowInsecureDials: true,
    ...(lease != null ? { lease, ...(opts.compute !== false ? { compute: { workerUrl: '/worker.js', slots: 1 } } : {}) } : {})
  })
  await tab.start()
  return { peerId: tab.peerId, did: tab.did, leaseId: lease != null ? tab.lease().id : undefined }
}

/** Receipts of what the tab ran. */
export function receipts (): TabReceipt[] { return tab?.receipts() ?? [] }

/** The tab's meters. */
export function meters (): TabMeters | undefined { return tab?.meters() }

/** Names of this origin's IndexedDB databases that hold a tab's storage. */
export async function storageDatabases (): Promise<string[]> {
  return (await indexedDB.databases()).map(d => d.name ?? '').filter(n => n.startsWith('webfabric-storage-'))
}

/** Waits until the tab's receipts and verdicts so far are in the browser's archive. */
export async function archiveReceipts (): Promise<void> { await tab?.archiveReceipts() }

/** Revokes the tab's lease. */
export async function revokeLease (): Promise<RevokeReport> { return await tab!.revoke() }

/**
 * Revokes the tab's lease the moment one of its domains is running a task (checked every
 * millisecond, in the page: no round trip between seeing the run and revoking, in which it could end).
 */
export async function revokeLeaseWhileRunning (timeoutMs: number): Promise<RevokeReport> {
  const until = performance.now() + timeoutMs
  while ((tab?.meters()?.running ?? 0) === 0) {
    if (performance.now() > until) throw new Error(`no task ran on the tab within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  return await tab!.revoke()
}

/** Peer ids of the members the tab sees. */
export function members (): string[] {
  return tab?.members().map(m => m.peerId) ?? []
}

/** Subscribes to a topic; messages land in the inbox. */
export async function subscribe (topic: string): Promise<void> {
  await tab!.pubsub.subscribe(topic)
  tab!.pubsub.addEventListener('message', (evt: Event) => {
    const m = (evt as CustomEvent<{ topic: string, data: Uint8Array }>).detail
    if (m.topic === topic) inbox.push(new TextDecoder().decode(m.data))
  })
}

/** What arrived on subscribed topics. */
export function received (): string[] { return inbox.slice() }

/** Publishes on a topic. */
export async function publish (topic: string, text: string): Promise<number> {
  return (await tab!.pubsub.publish(topic, new TextEncoder().encode(text))).recipients
}

/** Refuses a manifest whose signature was tampered with: the error's name. */
export async function tryTampered (manifest: unknown): Promise<string> {
  const t = new TabNode({ manifest: signedManifestFromJSON(manifest), credentials: [], allowInsecureDials: true })
  try {
    await t.start()
    return 'started'
  } catch (err) {
    return (err as Error).name
  }
}

/** Leaves the fabric. */
export async function leave (): Promise<void> { await tab?.stop() }

/** The tab's open connections: the peer and the address it was reached on. */
export function connections (): Array<{ peer: string, addr: string }> {
  return tab?.host.getConnections().map(c => ({ peer: c.remotePeer.toString(), addr: c.remoteAddr.toString() })) ?? []
}
