// fabric.json: how CLI commands find a running local fabric. `webfabric up`
// writes it into its directory (default ./.webfabric); `--fabric D` points elsewhere.
import { join, resolve } from 'node:path'
import { readJson } from '@webfabric/runtime/datadir'
import { connectAdmin, type AdminClient } from '@webfabric/runtime/admin'

/** One node of a local fabric as recorded in fabric.json. */
export interface FabricNodeEntry {
  name: string
  peerId: string
  did: string
  pid: number
  roles: string[]
  admin: string
  dataDir: string
  addrs: string[]
  /** the web app's base URL, on the node that serves it */
  web?: string
}

/** The contents of fabric.json. */
export interface FabricFile {
  origin: string
  manifest: string
  startedAt: string
  upPid: number
  nodes: FabricNodeEntry[]
  /** the participant page, when the fabric serves the web app */
  participantUrl?: string
  /** the operator dashboard (its fragment carries the rendezvous's admin token: fabric.json is owner-only) */
  dashboardUrl?: string
}

/** Default directory of a local fabric. */
export const DEFAULT_FABRIC_DIR = '.webfabric'

export function fabricDir (opt: string | undefined): string {
  return resolve(opt ?? DEFAULT_FABRIC_DIR)
}

/** Read fabric.json, with an error that says what to do when there is none. */
export async function readFabric (dir: string): Promise<FabricFile> {
  const f = await readJson<FabricFile>(join(dir, 'fabric.json'))
  if (f == null) throw new Error(`no local fabric found in ${dir} (no fabric.json): start one with \`webfabric up --nodes 3\`, or pass --fabric DIR`)
  return f
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/**
 * Connect to a node of the fabric: the named one (name or peer id), else the
 * first live non-rendezvous node, else the rendezvous.
 */
export async function connectNode (dir: string, which?: string, nodeDir?: string): Promise<{ api: AdminClient, close: () => void, url: string, node: FabricNodeEntry }> {
  if (nodeDir != null) {
    const cred = await readJson<{ url: string, token: string, peerId: string, pid: number }>(join(nodeDir, 'admin.json'))
    if (cred == null) throw new Error(`${nodeDir} has no admin.json: is a node running with --dir ${nodeDir}?`)
    const c = await connectAdmin(cred.url, cred.token)
    return { ...c, node: { name: nodeDir, peerId: cred.peerId, did: '', pid: cred.pid, roles: [], admin: cred.url, dataDir: nodeDir, addrs: [] } }
  }
  const fabric = await readFabric(dir)
  let candidates = fabric.nodes.filter(n => alive(n.pid))
  if (which != null) {
    candidates = candidates.filter(n => n.name === which || n.peerId === which)
    if (candidates.length === 0) throw new Error(`no live node named ${which} in ${dir}; see \`webfabric ls\``)
  } else {
    candidates.sort((a, b) => Number(a.roles.includes('rendezvous')) - Number(b.roles.includes('rendezvous')))
  }
  let lastErr: Error | undefined
  for (const node of candidates) {
    const cred = await readJson<{ url: string, token: string }>(join(node.dataDir, 'admin.json'))
    if (cred == null) continue
    try {
      const c = await connectAdmin(cred.url, cred.token)
      return { ...c, node }
    } catch (err) {
      lastErr = err as Error
    }
  }
  throw new Error(`no node of the fabric in ${dir} answers${lastErr != null ? ` (${lastErr.message})` : ''}; is \`webfabric up\` still running?`)
}
