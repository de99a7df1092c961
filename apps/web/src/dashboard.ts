// The operator dashboard (`/dashboard`): one node's view of the fabric —
// membership with roles and load, jobs with progress, receipts, storage
// health — read through the node's admin capability (Cap'n Web over the
// node's loopback WebSocket). The admin URL and token come from the page's
// fragment (`#admin=<ws url>&token=<token>`), which the browser never sends
// to a server; the token goes only to the admin endpoint.
import type { AdminClient, MemberSummary, NodeInfo } from '@webfabric/runtime/admin'
import { newWebSocketRpcSession } from 'capnweb'
import { append, h, replace, row, setText, table } from './dom.ts'
import { ago, bytes, clock, count, duration, percent, shortDid, shortId } from './format.ts'

/** One job as the node's `jobs()` lists it (newest first). */
export type JobView = Awaited<ReturnType<AdminClient['jobs']>>[number]

/** The admin calls the dashboard makes. */
type DashboardApi = Pick<AdminClient, 'info' | 'members' | 'stats' | 'receipts' | 'storageHeld' | 'jobs'>

/** How often the dashboard refreshes, ms. */
export const REFRESH_MS = 1000
/** Receipts listed at most. */
export const RECEIPT_LIMIT = 50
/** Longest wait between reconnection attempts, ms. */
const MAX_RETRY_MS = 10_000
/** How long a connection attempt may take, ms. */
const CONNECT_TIMEOUT_MS = 5000

/** Where the admin endpoint is and the token it wants, read from `#admin=…&token=…`. */
export function adminFromHash (hash: string): { url: string, token: string } | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ''))
  const url = params.get('admin')
  const token = params.get('token')
  if (url == null || url === '' || token == null || token === '') return undefined
  return { url, token }
}

/** Mounts the dashboard into `root`; connects when the fragment names an admin endpoint, else asks for one. */
export function startDashboard (root: HTMLElement): void {
  document.title = 'Fabric dashboard — Web Fabric'
  const status = h('p', { id: 'status', role: 'status', 'aria-live': 'polite' }, '')
  const alert = h('div', { id: 'alert', role: 'alert', class: 'alert' })
  const body = h('div', { class: 'content' })
  replace(root, h('header', { class: 'bar' }, h('div', { class: 'bar-text' }, h('h1', {}, 'Fabric dashboard'), status)), alert, body)

  let stopCurrent: (() => void) | undefined
  const begin = (): void => {
    stopCurrent?.()
    stopCurrent = undefined
    alert.replaceChildren()
    const admin = adminFromHash(location.hash)
    if (admin == null) {
      setText(status, 'Not connected.')
      body.replaceChildren(connectForm())
      return
    }
    stopCurrent = run(admin, { status, alert, body, onUnauthorized: () => body.prepend(connectForm(admin.url)) })
  }
  addEventListener('hashchange', begin)
  begin()
}

/** Asks for the admin URL and token; submitting puts them in the fragment (never in a request). */
function connectForm (url = ''): HTMLElement {
  const urlInput = h('input', { type: 'url', id: 'admin-url', name: 'admin', required: true, placeholder: 'ws://127.0.0.1:PORT/', value: url, autocomplete: 'off' })
  const tokenInput = h('input', { type: 'password', id: 'admin-token', name: 'token', required: true, autocomplete: 'off' })
  const form = h('form', { class: 'card', id: 'connect', 'aria-labelledby': 'connect-title' },
    h('h2', { id: 'connect-title' }, 'Connect to a node'),
    h('p', {}, 'The dashboard reads a node through its admin API. ', h('code', {}, 'webfabric up'), ' and ', h('code', {}, 'webfabric start'),
      ' print a dashboard link with both values; or copy them from the node\'s ', h('code', {}, 'admin.json'), '.'),
    h('div', { class: 'field' }, h('label', { for: 'admin-url' }, 'Admin URL'), urlInput),
    h('div', { class: 'field' }, h('label', { for: 'admin-token' }, 'Admin token'), tokenInput),
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Connect')))
  form.addEventListener('submit', event => {
    event.preventDefault()
    const p = new URLSearchParams({ admin: urlInput.value.trim(), token: tokenInput.value.trim() })
    location.hash = p.toString()
  })
  return form
}

interface Surface {
  status: HTMLElement
  alert: HTMLElement
  body: HTMLElement
  onUnauthorized: () => void
}

/** Connects, refreshes every REFRESH_MS, reconnects with backoff when the connection drops; returns a stopper. */
function run (admin: { url: string, token: string }, ui: Surface): () => void {
  const view = dashboardView()
  ui.body.replaceChildren(view.root)
  let stopped = false
  let session: { ws: WebSocket, gate: Disposable, api: DashboardApi } | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let retryMs = 1000
  let everConnected = false

  const close = (): void => {
    const s = session
    session = undefined
    if (s == null) return
    try { s.gate[Symbol.dispose]() } catch {}
    try { s.ws.close() } catch {}
  }

  const schedule = (fn: () => void, ms: number): void => {
    clearTimeout(timer)
    if (!stopped) timer = setTimeout(fn, ms)
  }

  const dropped = (err: unknown): void => {
    if (stopped) return
    close()
    view.stale(true)
    const wait = retryMs
    retryMs = Math.min(MAX_RETRY_MS, retryMs * 2)
    const what = everConnected ? 'Lost the connection to the node' : 'Cannot reach the node'
    setText(ui.status, `${what}; retrying in ${Math.round(wait / 1000)} s…`)
    const retry = h('button', { type: 'button' }, 'Retry now')
    retry.addEventListener('click', () => { retryMs = 1000; schedule(connect, 0) })
    replace(ui.alert, h('p', {}, `${what} at ${admin.url}: ${message(err)}. The figures below are from the last successful refresh. `, retry))
    schedule(connect, wait)
  }

  const connect = async (): Promise<void> => {
    if (stopped) return
    setText(ui.status, `Connecting to ${admin.url}…`)
    let ws: WebSocket
    try {
      ws = await openSocket(admin.url)
    } catch (err) {
      dropped(err)
      return
    }
    if (stopped) { ws.close(); return }
    const gate = newWebSocketRpcSession(ws) as unknown as Disposable & { authenticate (token: string): Promise<DashboardApi> }
    let api: DashboardApi
    try {
      api = await gate.authenticate(admin.token)
    } catch (err) {
      try { gate[Symbol.dispose]() } catch {}
      ws.close()
      if (/Unauthori[sz]ed/i.test(message(err))) {
        // a wrong token does not get better by retrying
        setText(ui.status, 'Not connected: the node refused the token.')
        replace(ui.alert, h('p', {}, 'The node refused this admin token. Use the dashboard link the node printed, or enter its admin URL and token again.'))
        ui.onUnauthorized()
        return
      }
      dropped(err)
      return
    }
    session = { ws, gate, api }
    ws.addEventListener('close', () => { if (session?.ws === ws) dropped(new Error('the connection closed')) })
    everConnected = true
    retryMs = 1000
    ui.alert.replaceChildren()
    await refresh()
  }

  const refresh = async (): Promise<void> => {
    const s = session
    if (stopped || s == null) return
    try {
      const [info, members, stats, receipts, held, jobs] = await Promise.all([
        s.api.info(),
        s.api.members(),
        s.api.stats(),
        s.api.receipts({ limit: RECEIPT_LIMIT }),
        s.api.storageHeld(),
        s.api.jobs().then(j => ({ ok: true as const, jobs: j }), (err: unknown) => ({ ok: false as const, err }))
      ])
      if (session !== s) return
      view.stale(false)
      view.render({ info, members, stats, receipts, held, jobs: jobs.ok ? jobs.jobs : undefined, jobsError: jobs.ok ? undefined : message(jobs.err), now: Date.now() })
      for (const x of [info, members, stats, receipts, held, jobs.ok ? jobs.jobs : undefined]) release(x)
      setText(ui.status, `Connected to ${info.manifest.name} through node ${shortId(info.peerId, 8, 6)}; refreshed ${clock(Date.now())}.`)
      schedule(() => { void refresh() }, REFRESH_MS)
    } catch (err) {
      if (session === s) dropped(err)
    }
  }

  void connect()
  return () => {
    stopped = true
    clearTimeout(timer)
    close()
  }
}

function openSocket (url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket
    try {
      ws = new WebSocket(url)
    } catch (err) {
      reject(new Error(`not a WebSocket URL (${message(err)})`))
      return
    }
    const t = setTimeout(() => { ws.close(); reject(new Error('no answer in time')) }, CONNECT_TIMEOUT_MS)
    ws.addEventListener('open', () => { clearTimeout(t); resolve(ws) }, { once: true })
    ws.addEventListener('error', () => { clearTimeout(t); reject(new Error('the connection was refused; is the node running?')) }, { once: true })
  })
}

function message (err: unknown): string {
  const m = (err as Error)?.message
  return typeof m === 'string' && m !== '' ? m : String(err)
}

/** Results of RPC calls carry a disposer (for any stubs inside); release ours once rendered. */
function release (x: unknown): void {
  try { (x as Partial<Disposable> | undefined)?.[Symbol.dispose]?.() } catch {}
}

// ---------------------------------------------------------------- rendering

interface Snapshot {
  info: NodeInfo
  members: MemberSummary[]
  stats: Record<string, number>
  receipts: Awaited<ReturnType<AdminClient['receipts']>>
  held: Awaited<ReturnType<AdminClient['storageHeld']>>
  jobs?: JobView[]
  jobsError?: string
  now: number
}

function dashboardView (): { root: HTMLElement, render: (s: Snapshot) => void, stale: (yes: boolean) => void } {
  const nodeFacts = h('dl', { class: 'facts' })
  const membersTitle = h('h2', { id: 'members-title' }, 'Members')
  const members = table('Members of the fabric as this node sees them', ['Peer', 'Kind', 'Roles', 'Capacity', 'Load', 'Last seen'], { id: 'members' })
  const jobsBody = h('div', {})
  const receipts = table('Receipts of work this node ran, newest first', ['Time', 'Job', 'Task', 'Worker', 'Fuel', 'Wall ms', 'Accepted'], { id: 'receipts' })
  const storageFacts = h('dl', { class: 'facts' })
  const root = h('div', { class: 'dashboard' },
    h('section', { class: 'card', 'aria-labelledby': 'node-title' }, h('h2', { id: 'node-title' }, 'Node'), nodeFacts),
    h('section', { class: 'card', 'aria-labelledby': 'members-title' }, membersTitle, h('div', { class: 'table-wrap' }, members.table)),
    h('section', { class: 'card', id: 'jobs', 'aria-labelledby': 'jobs-title' }, h('h2', { id: 'jobs-title' }, 'Jobs'), jobsBody),
    h('section', { class: 'card', 'aria-labelledby': 'receipts-title' }, h('h2', { id: 'receipts-title' }, 'Recent receipts'), h('div', { class: 'table-wrap' }, receipts.table)),
    h('section', { class: 'card', id: 'storage', 'aria-labelledby': 'storage-title' }, h('h2', { id: 'storage-title' }, 'Storage health'), storageFacts))

  return {
    root,
    stale: yes => { root.classList.toggle('stale', yes) },
    render: s => {
      replace(nodeFacts, ...facts([
        ['Fabric', `${s.info.manifest.name} (policy version ${s.info.manifest.version})`],
        ['Origin', code(s.info.origin, shortDid(s.info.origin))],
        ['Peer id', code(s.info.peerId, shortId(s.info.peerId, 12, 8))],
        ['Identity', code(s.info.did, shortDid(s.info.did))],
        ['Roles', s.info.roles.join(', ') || 'none'],
        ['Listens on', s.info.addrs.length > 0 ? h('ul', { class: 'plain' }, ...s.info.addrs.map(a => h('li', {}, h('code', {}, a)))) : 'nothing (reached through a relay)'],
        ['Process', `pid ${s.info.pid}, ${plural(s.stats.connections ?? 0, 'connection')}`],
        ['Compute', `${plural(s.stats.computeSlots ?? 0, 'slot')}, ${plural(s.stats.computeRuns ?? 0, 'run')}, ${count(s.stats.computeRefused ?? 0)} refused`]
      ]))

      const tabs = s.members.filter(isTab).length
      setText(membersTitle, `Members (${s.members.length}${tabs > 0 ? `, ${tabs} ${tabs === 1 ? 'tab' : 'tabs'}` : ''})`)
      const sorted = [...s.members].sort((a, b) => Number(b.self) - Number(a.self) || a.peerId.localeCompare(b.peerId))
      members.body.replaceChildren(...sorted.map(m => {
        const tr = row(
          code(m.peerId, shortId(m.peerId, 8, 6)),
          isTab(m) ? h('span', { class: 'tag' }, 'tab') : 'node',
          m.roles.join(', ') || '–',
          capacity(m.capacity),
          load(m.load),
          m.self ? 'this node' : ago(m.lastSeen, s.now))
        if (m.self) tr.className = 'self'
        return tr
      }))

      if (s.jobs == null) {
        replace(jobsBody, h('p', { class: 'muted' }, `This node does not list jobs (${s.jobsError ?? 'no answer'}).`))
      } else if (s.jobs.length === 0) {
        replace(jobsBody, h('p', { class: 'muted' }, 'No jobs yet. Run one with ', h('code', {}, 'webfabric run TASK --inputs …'), '.'))
      } else {
        const t = table('Jobs, newest first', ['Job', 'State', 'Progress', 'Accepted', 'Failed', 'Executions', 'Started', 'Took'])
        t.body.append(...s.jobs.map(j => jobRow(j, s.now)))
        replace(jobsBody, h('div', { class: 'table-wrap' }, t.table))
      }

      receipts.body.replaceChildren(...s.receipts.map(r => {
        const verdict = r.accepted === true ? '✓ accepted' : r.accepted === false ? '✗ rejected' : 'pending'
        return row(
          h('time', { datetime: new Date(r.at).toISOString() }, clock(r.at)),
          code(r.job, shortId(r.job, 8, 4)),
          code(r.task, shortId(r.task, 8, 4)),
          code(r.worker, shortDid(r.worker)),
          count(r.fuel),
          count(r.wallMs),
          verdict)
      }))
      if (s.receipts.length === 0) receipts.body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No receipts yet: this node has run no work.')))

      const pinned = s.held.filter(x => x.pinned).length
      const positions = new Set(s.held.map(x => x.root)).size
      const st = s.stats
      const storageRows: Array<[string, Node | string]> = [
        ['Objects held', `${count(positions)} (${count(s.held.length)} positions, ${count(pinned)} pinned)`]
      ]
      if (st.storageBlocks != null) storageRows.push(['Blocks', `${count(st.storageBlocks)}, ${bytes(st.storageBytes ?? 0)}`])
      if (st.storageQuotaBytes != null && st.storageQuotaBytes > 0) {
        const used = h('meter', { id: 'storage-used', min: 0, max: st.storageQuotaBytes, value: st.storageBytes ?? 0, high: st.storageQuotaBytes * 0.9 })
        storageRows.push(['Quota', h('span', {}, used, ` ${bytes(st.storageBytes ?? 0)} of ${bytes(st.storageQuotaBytes)} (${percent((st.storageBytes ?? 0) / st.storageQuotaBytes)})`)])
      }
      if (st.storageCorruptFound != null) storageRows.push(['Scrubbing', `${count(st.storageCorruptFound)} corrupt blocks found, ${count(st.storageHealed ?? 0)} healed`])
      if (st.storageRefused != null) storageRows.push(['Refused stores', count(st.storageRefused)])
      const repair = Object.entries(st).filter(([k]) => /^repair/i.test(k))
      if (repair.length > 0) storageRows.push(['Repair', repair.map(([k, v]) => `${k.replace(/^repair/i, '').replace(/^./, c => c.toLowerCase())} ${count(v)}`).join(', ')])
      if (st.storageAnchorSeq != null) storageRows.push(['Anchor log', `sequence ${count(st.storageAnchorSeq)}`])
      if (st.storageBlocks == null && s.held.length === 0) storageRows.push(['Role', 'this node holds no storage'])
      replace(storageFacts, ...facts(storageRows))
    }
  }
}

function jobRow (j: JobView, now: number): HTMLTableRowElement {
  const label = j.name != null && j.name !== '' ? j.name : shortId(j.job, 8, 4)
  const progress = h('progress', { max: Math.max(1, j.total), value: Math.min(j.done, j.total), 'aria-label': `${label}: ${j.done} of ${j.total} tasks done` })
  const took = (j.finishedAt ?? now) - j.startedAt
  const tr = row(
    h('span', {}, h('code', { title: j.job }, label), h('br', {}), h('small', { title: j.module }, `module ${shortId(j.module, 8, 4)}`)),
    h('span', { class: j.state === 'failed' ? 'bad' : j.state === 'done' ? 'ok' : '' }, j.state),
    h('span', { class: 'progress' }, progress, ` ${count(j.done)}/${count(j.total)}`),
    count(j.accepted),
    count(j.failed),
    count(j.executions),
    clock(j.startedAt),
    j.finishedAt != null ? duration(took) : `${duration(took)} so far`)
  tr.dataset.job = j.job
  return tr
}

/** A member that cannot be dialled directly: a browser tab (it listens only through a relay). */
function isTab (m: MemberSummary): boolean {
  return m.addrs.length === 0 || m.addrs.every(a => a.includes('/p2p-circuit'))
}

function capacity (c: Record<string, number>): string {
  const parts: string[] = []
  if (c.slots != null) parts.push(plural(c.slots, 'slot'))
  if (c.cpus != null) parts.push(plural(c.cpus, 'cpu'))
  if (c.storageMiB != null) parts.push(`${bytes(c.storageMiB * 1024 * 1024)} storage`)
  return parts.join(', ') || '–'
}

function load (l: Record<string, number>): string {
  const parts: string[] = []
  if (l.cpu != null) parts.push(`cpu ${percent(l.cpu)}`)
  for (const [k, v] of Object.entries(l)) if (k !== 'cpu') parts.push(`${k} ${count(v)}`)
  return parts.join(', ') || '–'
}

function plural (n: number, word: string): string {
  return `${count(n)} ${word}${n === 1 ? '' : 's'}`
}

function code (full: string, short: string): HTMLElement {
  return h('code', { title: full }, short)
}

function facts (rows: Array<[string, Node | string]>): HTMLElement[] {
  const out: HTMLElement[] = []
  for (const [k, v] of rows) {
    out.push(h('dt', {}, k))
    const dd = h('dd', {})
    append(dd, v)
    out.push(dd)
  }
  return out
}
