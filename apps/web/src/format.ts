// How the pages put fabric facts into words a person reads: shortened ids,
// sizes, durations, percentages, roles in plain language. Pure functions, no
// DOM, so Node tests can check them.

/** What each manifest role asks of a device, in plain words. */
export const ROLE_WORDS: Record<string, string> = {
  compute: 'run computations',
  storage: 'store encrypted pieces of files',
  ingress: 'accept requests for the origin\'s services',
  relay: 'relay traffic between other participants',
  rendezvous: 'help other participants find each other'
}

/** A role in plain words (unknown roles as they are). */
export function roleWords (role: string): string {
  return ROLE_WORDS[role] ?? role
}

/** Joins phrases as a sentence list: "a", "a and b", "a, b and c". */
export function listWords (items: string[]): string {
  if (items.length <= 1) return items.join('')
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`
}

/** A long id shortened for display: the first `head` and last `tail` characters around an ellipsis. */
export function shortId (id: string, head = 10, tail = 6): string {
  if (id.length <= head + tail + 1) return id
  return `${id.slice(0, head)}…${id.slice(-tail)}`
}

/** A did:key shortened: the method prefix kept, the key part cut in the middle. */
export function shortDid (did: string): string {
  const m = /^(did:[a-z0-9]+:)(.*)$/.exec(did)
  if (m == null) return shortId(did)
  return `${m[1]}${shortId(m[2], 6, 6)}`
}

/** A fraction (0..1) as a whole percentage: 0.5 → "50%". Small non-zero fractions keep one decimal. */
export function percent (fraction: number): string {
  if (!Number.isFinite(fraction)) return '–'
  const p = fraction * 100
  if (p > 0 && p < 10) return `${Math.round(p * 10) / 10}%`
  return `${Math.round(p)}%`
}

/** MiB as a person reads it: 512 → "512 MiB", 2048 → "2 GiB". */
export function mib (n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} TiB`
  if (n >= 1024) return `${round(n / 1024)} GiB`
  return `${round(n)} MiB`
}

/** Bytes as a person reads them: 1536 → "1.5 KiB". */
export function bytes (n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : round(v)} ${units[i]}`
}

/** A bandwidth in KiB/s: 1024 → "1 MiB/s"; 0 means the origin set no traffic budget. */
export function kibps (n: number): string {
  if (n === 0) return 'none'
  return n >= 1024 ? `${round(n / 1024)} MiB/s` : `${round(n)} KiB/s`
}

/** A duration in words, largest units first, at most two of them: 5400000 → "1 h 30 min". */
export function duration (ms: number): string {
  if (!Number.isFinite(ms)) return '–'
  const sign = ms < 0 ? '-' : ''
  let s = Math.round(Math.abs(ms) / 1000)
  const parts: Array<[number, string]> = []
  const d = Math.floor(s / 86400); s -= d * 86400
  const h = Math.floor(s / 3600); s -= h * 3600
  const m = Math.floor(s / 60); s -= m * 60
  if (d > 0) parts.push([d, d === 1 ? 'day' : 'days'])
  if (h > 0) parts.push([h, 'h'])
  if (m > 0) parts.push([m, 'min'])
  if (s > 0 || parts.length === 0) parts.push([s, 's'])
  return sign + parts.slice(0, 2).map(([n, u]) => `${n} ${u}`).join(' ')
}

/** How long ago a time was, briefly: "just now", "12 s ago", "3 min ago". */
export function ago (at: number, now: number): string {
  const ms = now - at
  if (ms < 1500) return 'just now'
  return `${duration(ms)} ago`
}

// Intl formatters are costly to create (a receipt row would pay it twice): make each once
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

/** A clock time (hh:mm:ss, the person's locale). */
export function clock (at: number): string {
  return CLOCK.format(at)
}

/** A date and time (the person's locale), e.g. for a lease's end. */
export function dateTime (at: number): string {
  return DATE_TIME.format(at)
}

/** A count with thousands separators. */
export function count (n: number): string {
  return Number.isFinite(n) ? COUNT.format(Math.round(n)) : '–'
}

function round (v: number): string {
  return String(v >= 100 ? Math.round(v) : Math.round(v * 10) / 10)
}
