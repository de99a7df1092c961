// The participant page (`/`): a person reads what the origin wants of their
// device, chooses the limits of a lease, grants it, and watches their tab
// compute as a fabric node — receipts and meters live — until they press
// Revoke or the lease ends. Work runs only in Web Workers; this page polls
// cheap views of the tab node and renders in animation frames.
import { Keyring, type PolicyManifest, type SignedManifest, fromBase64url, toBase64url } from '@webfabric/protocol'
import workerUrl from '@webfabric/compute/worker-web?worker&url'
import { append, h, replace, setText, table } from './dom.ts'
import {
  type Bound,
  type LeaseBounds,
  type TabNode,
  type RevokeReport,
  type TabLeaseChoice,
  type TabMeters,
  type TabReceipt,
  checkLeaseChoice,
  joinFabric,
  leaseBounds,
  loadOrigin
} from './fabric.ts'
import { bytes, clock, count, dateTime, duration, kibps, listWords, mib, percent, roleWords, shortDid, shortId } from './format.ts'

/** Where the page is; tests and benchmarks read it from `globalThis.webfabricParticipant`. */
export type ParticipantStatus = 'loading' | 'consent' | 'refused' | 'joining' | 'running' | 'revoked' | 'stopped' | 'error'

/** The test hook, kept current: status, the last error, the tab node and how a revocation went. */
export interface ParticipantHook {
  status: ParticipantStatus
  error?: { name: string, message: string }
  tab?: TabNode
  revokeReport?: RevokeReport
}

declare global {
  var webfabricParticipant: ParticipantHook | undefined
}

/** What the page says when the manifest's signature does not hold. */
export const TAMPERED_TEXT = 'This fabric\'s policy is not signed by its origin; it may have been tampered with. Nothing was granted.'
/** Rows of the receipts table at most (the tab keeps more; the page shows the newest). */
export const MAX_RECEIPT_ROWS = 200
/** How often meters, membership and the countdown refresh, ms. */
export const POLL_MS = 500
/** sessionStorage key of this tab's keyring secret: one participant per tab, kept across reloads. */
export const KEYRING_KEY = 'webfabric.keyring'

const SCHEMA_ERRORS = new Set(['ManifestSchemaError', 'WrongOriginError', 'MalformedError', 'StaleManifestError'])

/** Mounts the participant page into `root` and starts loading the origin's manifest. */
export function startParticipant (root: HTMLElement): void {
  document.title = 'Lend this device — Web Fabric'
  const hook: ParticipantHook = { status: 'loading' }
  globalThis.webfabricParticipant = hook

  const status = h('p', { id: 'status', role: 'status', 'aria-live': 'polite' }, 'Loading this fabric\'s policy…')
  const revokeButton = h('button', { type: 'button', id: 'revoke', class: 'danger', hidden: true }, 'Revoke')
  const alert = h('div', { id: 'alert', role: 'alert', class: 'alert' })
  const body = h('div', { class: 'content' })
  replace(root,
    h('header', { class: 'bar' },
      h('div', { class: 'bar-text' }, h('h1', {}, 'Lend this device'), status),
      revokeButton),
    alert,
    body)

  function setStatus (s: ParticipantStatus, text: string): void {
    hook.status = s
    root.dataset.status = s
    setText(status, text)
  }

  function showError (err: unknown, text?: string): void {
    const e = err as { name?: unknown, message?: unknown }
    const name = typeof e?.name === 'string' ? e.name : 'Error'
    const message = typeof e?.message === 'string' ? e.message : String(err)
    hook.error = { name, message }
    replace(alert, h('p', {}, text ?? message))
  }

  function clearError (): void {
    hook.error = undefined
    alert.replaceChildren()
  }

  async function load (): Promise<void> {
    setStatus('loading', 'Loading this fabric\'s policy…')
    clearError()
    body.replaceChildren()
    let origin: { signed: SignedManifest, manifest: PolicyManifest }
    try {
      origin = await loadOrigin(location.href)
    } catch (err) {
      const name = (err as Error)?.name
      if (name === 'InvalidSignatureError') {
        setStatus('refused', 'Refused: the policy is not signed by its origin.')
        showError(err, TAMPERED_TEXT)
        append(body, refusedView())
      } else if (SCHEMA_ERRORS.has(name)) {
        const text = `This fabric's policy is malformed, so this page cannot tell what you would grant (${(err as Error).message}). Nothing was granted.`
        setStatus('refused', 'Refused: the policy is malformed.')
        showError(err, text)
        append(body, refusedView())
      } else {
        setStatus('error', 'Could not load this fabric\'s policy.')
        showError(err, `Could not load this fabric's policy: ${(err as Error)?.message ?? String(err)}`)
        const retry = h('button', { type: 'button' }, 'Try again')
        retry.addEventListener('click', () => { void load() })
        append(body, h('p', {}, retry))
      }
      return
    }
    consent(origin.signed, origin.manifest)
  }

  function refusedView (): HTMLElement {
    return h('section', { class: 'card refused', 'aria-labelledby': 'refused-title' },
      h('h2', { id: 'refused-title' }, 'This page refused the fabric'),
      h('p', {}, 'This device was not enrolled and nothing runs on it. The page checks that what it shows you is exactly what the ' +
        'website signed; here that check failed, so it cannot tell you truthfully what you would grant.'),
      h('p', {}, 'You can close this page. If you trust the website, tell its operators what you saw.'))
  }

  function consent (signed: SignedManifest, manifest: PolicyManifest): void {
    const bounds = leaseBounds(manifest)
    const controls = consentControls(manifest, bounds)
    const grant = h('button', { type: 'submit', class: 'primary' }, 'Grant lease and join')
    const form = h('form', { id: 'consent', class: 'card', 'aria-labelledby': 'consent-title' },
      h('h2', { id: 'consent-title' }, 'Your lease'),
      h('p', {}, `Choose how much of this device you lend. You may lend less than ${manifest.name} asks for, never more.`),
      ...controls.fields,
      h('p', {}, grant))
    body.replaceChildren(originView(manifest, controls.until), form)
    setStatus('consent', `${manifest.name} asks to use this device. Nothing runs until you grant a lease.`)

    form.addEventListener('submit', event => {
      event.preventDefault()
      void join()
    })

    async function join (): Promise<void> {
      clearError()
      let choice: TabLeaseChoice
      try {
        choice = checkLeaseChoice(manifest, controls.read())
      } catch (err) {
        showError(err, `That lease is outside what ${manifest.name} allows: ${(err as Error).message}`)
        return
      }
      setStatus('joining', `Joining ${manifest.name}'s fabric…`)
      setDisabled(form, true)
      let tab: TabNode
      try {
        tab = await joinFabric({
          signed,
          manifest,
          choice,
          keyringSecret: await keyringSecret(),
          workerUrl,
          base: location.href,
          allowInsecureDials: isLoopback(location.hostname)
        })
      } catch (err) {
        setDisabled(form, false)
        if ((err as Error)?.name === 'InvalidSignatureError') {
          setStatus('refused', 'Refused: the policy is not signed by its origin.')
          showError(err, TAMPERED_TEXT)
          body.replaceChildren(refusedView())
          return
        }
        setStatus('error', 'Joining failed. Nothing runs on this device.')
        showError(err, joinErrorText(err))
        return
      }
      running(manifest, tab)
    }
  }

  function running (manifest: PolicyManifest, tab: TabNode): void {
    hook.tab = tab
    const view = runningView(manifest, tab)
    body.replaceChildren(view.section)
    revokeButton.hidden = false
    revokeButton.disabled = false
    // the Grant button is gone: keep keyboard focus in the page, on the new view's heading
    // (never on Revoke, where a second Enter would end the lease just granted)
    view.section.querySelector('h2')?.focus()
    setStatus('running', `Running: this tab computes${tab.storage != null ? ' and keeps encrypted pieces of files' : ''} for ${manifest.name}. Press Revoke to stop at once.`)
    let ended = false
    let revoking = false

    const timer = setInterval(() => { if (!ended) view.poll() }, POLL_MS)
    view.poll()
    const onPageHide = (): void => { if (!ended) void tab.stop() }
    addEventListener('pagehide', onPageHide)

    function end (): void {
      ended = true
      clearInterval(timer)
      removeEventListener('pagehide', onPageHide)
      view.detach()
      revokeButton.hidden = true
    }

    revokeButton.onclick = async () => {
      if (ended || revoking) return
      revoking = true
      revokeButton.disabled = true
      setStatus('running', 'Revoking…')
      let report: RevokeReport
      try {
        report = await tab.revoke()
      } catch (err) {
        // the lease may still stand: say so, and let the person try again
        revoking = false
        revokeButton.disabled = false
        setStatus('error', 'Revoking failed; work may still run. Press Revoke again, or close this tab.')
        showError(err, `Revoking failed: ${(err as Error)?.message ?? String(err)}`)
        return
      }
      end()
      hook.revokeReport = report
      const ms = Math.max(0, report.stoppedAt - report.revokedAt)
      const stoppedMs = ms < 10 ? Math.round(ms * 10) / 10 : Math.round(ms)
      setStatus('revoked', `Revoked: all work stopped in ${stoppedMs} ms.`)
      view.ended([
        `Revoked: all work stopped in ${stoppedMs} ms${report.stoppedRuns > 0 ? ` (${report.stoppedRuns} running ${report.stoppedRuns === 1 ? 'computation' : 'computations'} stopped)` : ''}.`,
        report.gossiped
          ? 'The revocation was sent to the fabric: nothing more runs on this device under this lease.'
          : 'Nothing more runs on this device under this lease. The fabric could not be told right now; it sees this tab leave and moves its work elsewhere.',
        ...(report.released.blocks > 0 ? [`The ${bytes(report.released.bytes)} this tab stored for the fabric were deleted from this browser; the fabric keeps its own copies elsewhere.`] : [])
      ])
    }

    tab.addEventListener('stopped', evt => {
      if (ended || revoking) return
      end()
      const reason = (evt as CustomEvent<{ reason: string }>).detail?.reason
      if (reason === 'expired') {
        setStatus('stopped', 'Your lease ended: all work stopped.')
        view.ended([`Your lease ended at ${clock(Date.now())}: all work stopped, and nothing more runs on this device.`])
      } else if (reason === 'revoked') {
        setStatus('revoked', 'The lease was revoked: all work stopped.')
        view.ended(['The lease was revoked: all work stopped, and nothing more runs on this device.'])
      } else {
        setStatus('stopped', 'This tab left the fabric: all work stopped.')
        view.ended(['This tab left the fabric: all work stopped.'])
      }
    })
  }

  void load()
}

function isLoopback (host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1'
}

function joinErrorText (err: unknown): string {
  const e = err as Error
  switch (e?.name) {
    case 'JoinRefusedError': return `The fabric's node did not enrol this tab: ${e.message}. Nothing was granted; you can try again.`
    case 'LeaseChoiceError': return `That lease is outside what the origin allows: ${e.message}`
    default: return `Joining failed: ${e?.message ?? String(err)}. Nothing runs on this device; you can try again.`
  }
}

function setDisabled (form: HTMLFormElement, disabled: boolean): void {
  for (const el of form.querySelectorAll('input, button')) (el as HTMLInputElement | HTMLButtonElement).disabled = disabled
}

/**
 * This tab's keyring secret: one per tab (sessionStorage), so each tab is its own participant and a
 * reload keeps it. A duplicated tab inherits a copy of sessionStorage; the Web Lock each page holds on
 * its secret for as long as it lives tells the copy to take a fresh one, so two live tabs never share
 * an identity (two libp2p nodes with one peer id would break each other).
 */
async function keyringSecret (): Promise<Uint8Array> {
  try {
    const kept = sessionStorage.getItem(KEYRING_KEY)
    if (kept != null) {
      const secret = fromBase64url(kept)
      if (secret.byteLength === 32 && await holdIdentity(secret)) return secret
    }
  } catch {}
  const secret = (await Keyring.generate()).secret
  try { sessionStorage.setItem(KEYRING_KEY, toBase64url(secret)) } catch {}
  await holdIdentity(secret)
  return secret
}

/** Takes, for this page's lifetime, the lock named after the secret's hash; false when another live tab holds it. */
async function holdIdentity (secret: Uint8Array): Promise<boolean> {
  const locks = globalThis.navigator?.locks
  if (locks == null) return true
  const name = `webfabric-identity-${toBase64url(new Uint8Array(await crypto.subtle.digest('SHA-256', secret as Uint8Array<ArrayBuffer>))).slice(0, 22)}`
  const taken = Promise.withResolvers<boolean>()
  void locks.request(name, { ifAvailable: true }, async lock => {
    taken.resolve(lock != null)
    // held until the page goes away
    if (lock != null) await new Promise(() => {})
  })
  return await taken.promise
}

// ---------------------------------------------------------------- consent

/** Who asks, what for, and within which limits. */
function originView (m: PolicyManifest, until: HTMLElement): HTMLElement {
  const q = m.qos
  const did = h('code', { title: m.origin }, shortDid(m.origin))
  return h('section', { class: 'card', 'aria-labelledby': 'origin-title' },
    h('h2', { id: 'origin-title' }, `${m.name} asks to use this device`),
    h('p', {}, `${m.name} runs a fabric: a shared computer made of the devices of people who visit it. ` +
      `If you grant a lease, this browser tab will ${listWords(m.roles.map(roleWords))} for ${m.name}, within the limits you choose, ` +
      'until the lease ends or you press Revoke. The work runs in the background, apart from this page and from your files, ' +
      'and every piece of it leaves a receipt you can see here.'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Who asks'),
      h('dd', {}, m.name, ' — origin ', did, ' ',
        h('details', {}, h('summary', {}, 'full id'), h('code', { class: 'wrap' }, m.origin)),
        ` (policy version ${m.version})`),
      h('dt', {}, 'It wants this tab to'),
      h('dd', {}, h('ul', {}, ...m.roles.map(r => h('li', {}, roleWords(r))))),
      h('dt', {}, 'At most'),
      h('dd', {}, h('ul', {},
        h('li', {}, `${percent(q.cpuShare)} of the processor's time`),
        h('li', {}, `${mib(q.memoryMiB)} of memory per computation`),
        h('li', {}, q.storageMiB > 0 ? `${mib(q.storageMiB)} of storage` : 'no storage'),
        h('li', {}, q.bandwidthKiBps > 0 ? `${kibps(q.bandwidthKiBps)} of network traffic` : 'no network traffic budget'),
        h('li', {}, `a lease of ${duration(q.leaseMaxMs)}`))),
      h('dt', {}, 'Your lease would last'),
      h('dd', {}, until)))
}

interface ConsentControls {
  fields: HTMLElement[]
  /** the "until …" sentence, kept current as the duration changes */
  until: HTMLElement
  read: () => TabLeaseChoice
}

function consentControls (m: PolicyManifest, b: LeaseBounds): ConsentControls {
  const until = h('span', {})
  const name = m.name
  const cpu = control('cpuShare', 'CPU share', b.cpuShare, percent,
    'The largest share of the processor\'s time the fabric\'s work may take; the rest stays yours, and this page stays responsive.' +
    (b.cpuShare.max < m.qos.cpuShare ? ` ${name} asks for up to ${percent(m.qos.cpuShare)}, but this device keeps one core free for you, so ${percent(b.cpuShare.max)} is the most it lends.` : ''))
  const memory = control('memoryMiB', 'Memory per task', b.memoryMiB, mib,
    'The most memory one computation may use; one that needs more is stopped.')
  const storage = control('storageMiB', 'Storage', b.storageMiB, v => v === 0 ? 'none' : mib(v),
    `Space in this browser for encrypted pieces of ${name}'s files, which cannot be read on this device. Leave it at none to lend no storage.`)
  const time = control('durationMs', 'Duration', b.durationMs, duration,
    'How long the lease lasts; it ends by itself then, or earlier the moment you press Revoke.')
  const refreshUntil = (): void => {
    setText(until, `${duration(time.value())}, until ${dateTime(Date.now() + time.value())}`)
  }
  time.input.addEventListener('input', refreshUntil)
  refreshUntil()
  // the end moves with the clock while the person reads; stop once the form is gone
  const timer = setInterval(() => { if (until.isConnected) refreshUntil(); else clearInterval(timer) }, 30_000)
  return {
    fields: [cpu.field, memory.field, storage.field, time.field],
    until,
    read: () => ({ cpuShare: cpu.value(), memoryMiB: memory.value(), storageMiB: storage.value(), durationMs: time.value() })
  }
}

/** A labelled range input with its value shown beside it and a one-sentence explanation. */
function control (id: string, label: string, bound: Bound, show: (v: number) => string, help: string): { field: HTMLElement, input: HTMLInputElement, value: () => number } {
  // steps count from the range's min: start them where the maximum is reachable
  const steps = Math.floor((bound.max - bound.min) / bound.step + 1e-9)
  const min = bound.max - steps * bound.step > bound.min + 1e-9 ? roundTo(bound.max - steps * bound.step, bound.step) : bound.min
  const input = h('input', {
    type: 'range',
    id,
    name: id,
    min,
    max: bound.max,
    step: bound.step,
    value: Math.min(bound.max, Math.max(min, bound.default)),
    'aria-describedby': `${id}-help`
  })
  const output = h('output', { for: id, id: `${id}-value` })
  const value = (): number => Math.min(bound.max, Math.max(bound.min, roundTo(Number(input.value), bound.step)))
  const refresh = (): void => {
    const text = show(value())
    setText(output, text)
    input.setAttribute('aria-valuetext', text)
  }
  input.addEventListener('input', refresh)
  refresh()
  const field = h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('div', { class: 'field-control' }, input, output),
    h('p', { id: `${id}-help`, class: 'help' }, help))
  return { field, input, value }
}

/** Rounds away the float noise of step arithmetic (0.30000000000000004 → 0.3). */
function roundTo (v: number, step: number): number {
  const decimals = Math.max(0, Math.ceil(-Math.log10(step)) + 2)
  return Number(v.toFixed(decimals))
}

// ---------------------------------------------------------------- running

interface RunningView {
  section: HTMLElement
  poll: () => void
  /** the lease is over: show why, stop listening for receipts, keep the record */
  ended: (lines: string[]) => void
  detach: () => void
}

function runningView (m: PolicyManifest, tab: TabNode): RunningView {
  const lease = tab.lease()
  const c = lease.choice
  const countdown = h('span', {})
  const membersText = h('span', {})
  const outcome = h('div', { class: 'outcome', hidden: true })

  const cpu = meterRow('meter-cpu', 'CPU')
  const memory = meterRow('meter-memory', 'Memory')
  const storage = meterRow('meter-storage', 'Storage')
  const traffic = meterRow('meter-traffic', 'Network')
  const runs = h('p', { class: 'runs' })

  const { table: receiptsTable, body: receiptsBody } = table('Receipts, newest first',
    ['Time', 'Job', 'Task', 'Fuel', 'Wall time (ms)', 'Accepted'], { id: 'receipts' })
  const receiptsEmpty = h('p', { class: 'muted' }, 'No work has run here yet. Receipts appear as the fabric sends computations.')

  const title = h('h2', { id: 'running-title', tabindex: -1 }, `Lending this device to ${m.name}`)
  const usage = h('div', {}, h('h3', {}, 'Use right now'), h('div', { class: 'meters' }, cpu.el, memory.el, storage.el, traffic.el))
  const section = h('section', { class: 'card', 'aria-labelledby': 'running-title' },
    title,
    outcome,
    h('dl', { class: 'facts' },
      h('dt', {}, 'You lent'),
      h('dd', {}, `${percent(c.cpuShare)} of the processor's time, ${mib(c.memoryMiB)} of memory per computation, ` +
        (c.storageMiB > 0 ? `${mib(c.storageMiB)} of storage` : 'no storage')),
      h('dt', {}, 'Lease ends'),
      h('dd', {}, dateTime(lease.expiresAt), ' (', countdown, ')'),
      h('dt', {}, 'This tab in the fabric'),
      h('dd', {}, h('code', { title: tab.did }, shortDid(tab.did)), ', ', membersText),
      h('dt', {}, 'Lease'),
      h('dd', {}, h('code', { title: lease.id }, shortId(lease.id)))),
    usage,
    runs,
    h('h3', {}, 'Receipts'),
    h('p', { class: 'help' }, 'Every computation this tab runs leaves a receipt signed by this tab. ' +
      'The fabric accepts a result when other participants computed the same one. ' +
      'This browser keeps the receipts, so the list also shows what ran here under earlier leases.'),
    receiptsEmpty,
    h('div', { class: 'table-wrap' }, receiptsTable))

  // receipts: new ones and verdicts are queued and drawn together, at most once per poll (POLL_MS), in an
  // animation frame, at most MAX_RECEIPT_ROWS. Drawing each as it came (every frame while computing) cost
  // the browser ~10 ms of style, layout and paint per execution, taken from the cores the lease leaves.
  const rows = new Map<string, HTMLTableRowElement>()
  const queued = new Map<string, TabReceipt>()
  const verdicts = new Map<string, boolean | undefined>()
  let frame = 0
  const draw = (): void => {
    frame = 0
    const fresh = [...queued.values()].slice(-MAX_RECEIPT_ROWS)
    queued.clear()
    const fragment = document.createDocumentFragment()
    for (let i = fresh.length - 1; i >= 0; i--) {
      const tr = receiptRow(fresh[i])
      rows.set(fresh[i].cid, tr)
      fragment.appendChild(tr)
    }
    receiptsBody.insertBefore(fragment, receiptsBody.firstChild)
    for (const [cid, accepted] of verdicts) {
      const tr = rows.get(cid)
      if (tr != null) setVerdict(tr.cells[5], accepted)
    }
    verdicts.clear()
    while (receiptsBody.rows.length > MAX_RECEIPT_ROWS) {
      const last = receiptsBody.rows[receiptsBody.rows.length - 1]
      rows.delete(last.dataset.cid ?? '')
      last.remove()
    }
    receiptsEmpty.hidden = rows.size > 0
  }
  const drawSoon = (): void => {
    if (frame === 0 && (queued.size > 0 || verdicts.size > 0)) frame = requestAnimationFrame(draw)
  }
  const queue = (r: TabReceipt): void => {
    queued.delete(r.cid)
    queued.set(r.cid, r)
    if (queued.size > MAX_RECEIPT_ROWS) queued.delete(queued.keys().next().value as string)
  }
  for (const r of tab.receipts().slice(-MAX_RECEIPT_ROWS)) queue(r)
  drawSoon()
  const onReceipt = (evt: Event): void => queue((evt as CustomEvent<TabReceipt>).detail)
  const onAccepted = (evt: Event): void => {
    const r = (evt as CustomEvent<TabReceipt>).detail
    if (queued.has(r.cid)) queued.set(r.cid, r)
    else if (rows.has(r.cid)) verdicts.set(r.cid, r.accepted)
  }
  tab.addEventListener('receipt', onReceipt)
  tab.addEventListener('receipt-accepted', onAccepted)

  // traffic rate from the totals between polls
  let lastTraffic: { at: number, total: number } | undefined
  const poll = (): void => {
    drawSoon()
    const now = Date.now()
    const left = lease.expiresAt - now
    setText(countdown, left > 0 ? `in ${duration(left)}` : 'now')
    const members = tab.members()
    const others = members.filter(x => !x.self).length
    setText(membersText, `with ${count(others)} other ${others === 1 ? 'member' : 'members'}`)
    let mt: TabMeters
    try { mt = tab.meters() } catch { return }
    cpu.set(Math.min(mt.cpu.used, mt.cpu.share), mt.cpu.share, `${percent(mt.cpu.used)} used of the ${percent(mt.cpu.share)} you lent`)
    memory.set(mt.memory.usedMiB, mt.memory.limitMiB, `${mib(mt.memory.usedMiB)} of ${mib(mt.memory.limitMiB)}`)
    if (mt.storage.limitMiB > 0) storage.set(mt.storage.usedMiB, mt.storage.limitMiB, `${mib(mt.storage.usedMiB)} of ${mib(mt.storage.limitMiB)}`)
    else storage.set(0, 1, 'none lent')
    const total = mt.traffic.inBytes + mt.traffic.outBytes
    const rate = lastTraffic != null && now > lastTraffic.at ? (total - lastTraffic.total) / 1024 / ((now - lastTraffic.at) / 1000) : 0
    lastTraffic = { at: now, total }
    const limit = mt.traffic.limitKiBps
    traffic.set(limit > 0 ? Math.min(rate, limit) : 0, limit > 0 ? limit : 1,
      `${bytes(mt.traffic.inBytes)} in, ${bytes(mt.traffic.outBytes)} out; now ${bytes(rate * 1024)}/s` +
      (limit > 0 ? ` of ${kibps(limit)}` : ''))
    setText(runs, `${count(mt.runs)} ${mt.runs === 1 ? 'computation' : 'computations'} finished, ${count(mt.running)} running now` +
      (mt.refused > 0 ? `, ${count(mt.refused)} refused (outside your limits)` : '') + '.')
  }

  return {
    section,
    poll,
    ended: lines => {
      setText(title, `This device is no longer lent to ${m.name}`)
      // nothing runs any more: the meters would only show the last poll
      usage.hidden = true
      setText(membersText, 'left the fabric')
      outcome.hidden = false
      const again = h('button', { type: 'button' }, 'Lend again')
      again.addEventListener('click', () => location.reload())
      replace(outcome, ...lines.map(l => h('p', {}, l)), h('p', {}, again))
      setText(countdown, 'ended')
      again.focus()
    },
    detach: () => {
      tab.removeEventListener('receipt', onReceipt)
      tab.removeEventListener('receipt-accepted', onAccepted)
      if (frame !== 0) cancelAnimationFrame(frame)
      draw()
    }
  }
}

function meterRow (id: string, label: string): { el: HTMLElement, set: (value: number, max: number, text: string) => void } {
  const meter = h('meter', { id, min: 0, max: 1, value: 0 })
  const text = h('span', { class: 'meter-text' })
  const el = h('div', { class: 'meter-row' }, h('label', { for: id }, label), meter, text)
  return {
    el,
    set: (value, max, t) => {
      if (meter.max !== max) meter.max = max
      meter.high = max * 0.9
      meter.value = value
      setText(text, t)
    }
  }
}

function receiptRow (r: TabReceipt): HTMLTableRowElement {
  const verdict = h('td', {})
  setVerdict(verdict, r.accepted)
  const tr = h('tr', { 'data-cid': r.cid },
    h('td', {}, h('time', { datetime: new Date(r.at).toISOString() }, clock(r.at))),
    h('td', {}, h('code', { title: r.job }, shortId(r.job, 8, 4))),
    h('td', {}, h('code', { title: r.task }, shortId(r.task, 8, 4))),
    h('td', { class: 'num' }, count(r.fuel)),
    h('td', { class: 'num' }, count(r.wallMs)),
    verdict)
  if (r.status !== 'ok') tr.cells[2].append(` (${r.status})`)
  return tr
}

function setVerdict (cell: HTMLTableCellElement, accepted: boolean | undefined): void {
  const text = accepted === true ? '✓ accepted' : accepted === false ? '✗ rejected' : 'pending'
  setText(cell, text)
  cell.className = accepted === true ? 'ok' : accepted === false ? 'bad' : 'muted'
}
