// Strict shape and size checks: anything that is not exactly a placement
// record, a repair message or a snapshot within LIMITS is refused before the
// core uses it.

import { LIMITS } from './constants.ts'
import { MalformedRecordError, MalformedRepairMessageError, MalformedSnapshotError } from './errors.ts'
import type { PlacementRecord, Redundancy, RepairMessage, RepairSnapshot } from './types.ts'

type Fail = (path: string, what: string) => never

function isPlainObject (x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

function object (x: unknown, path: string, keys: readonly string[], fail: Fail): Record<string, unknown> {
  if (!isPlainObject(x)) fail(path, 'must be a plain object')
  const own = Object.keys(x)
  if (own.length !== keys.length) fail(path, `must have exactly the keys ${keys.join(', ')}`)
  for (const k of keys) if (!Object.hasOwn(x, k)) fail(path, `is missing "${k}"`)
  return x
}

function uint (x: unknown, path: string, max: number, fail: Fail): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > max) fail(path, `must be an integer in [0, ${max}]`)
  return x
}

function id (x: unknown, path: string, fail: Fail): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > LIMITS.id) fail(path, `must be a string of 1..${LIMITS.id} characters`)
  return x
}

// Counts characters (and 8 per number) as it checks, so the size bound holds
// whatever the shape.
class Budget {
  used = 0
  readonly fail: Fail
  constructor (fail: Fail) { this.fail = fail }
  add (n: number, path: string): void {
    this.used += n
    if (this.used > LIMITS.bytes) this.fail(path, `takes the message over ${LIMITS.bytes} bytes`)
  }
}

// Shares an object is stored as (n) and shares needed to recover it.
export function sharesOf (r: Redundancy): { n: number, need: number } {
  return r.kind === 'replicas' ? { n: r.r, need: 1 } : { n: r.k + r.m, need: r.k }
}

function redundancy (x: unknown, path: string, fail: Fail): Redundancy {
  if (!isPlainObject(x)) fail(path, 'must be a plain object')
  if (x.kind === 'replicas') {
    const o = object(x, path, ['kind', 'r'], fail)
    const r = uint(o.r, `${path}.r`, LIMITS.positions, fail)
    if (r < 1) fail(`${path}.r`, 'must be ≥ 1')
    return { kind: 'replicas', r }
  }
  if (x.kind === 'erasure') {
    const o = object(x, path, ['kind', 'k', 'm'], fail)
    const k = uint(o.k, `${path}.k`, LIMITS.positions, fail)
    const m = uint(o.m, `${path}.m`, LIMITS.positions, fail)
    if (k < 1) fail(`${path}.k`, 'must be ≥ 1')
    if (k + m > LIMITS.positions) fail(path, `k + m must be ≤ ${LIMITS.positions}`)
    return { kind: 'erasure', k, m }
  }
  return fail(`${path}.kind`, 'must be "replicas" or "erasure"')
}

function record (x: unknown, path: string, fail: Fail, budget: Budget | undefined): PlacementRecord {
  const o = object(x, path, ['root', 'redundancy', 'holders', 'version', 'shareBytes'], fail)
  const root = id(o.root, `${path}.root`, fail)
  const red = redundancy(o.redundancy, `${path}.redundancy`, fail)
  const { n } = sharesOf(red)
  if (!Array.isArray(o.holders)) fail(`${path}.holders`, 'must be an array')
  if (o.holders.length !== n) fail(`${path}.holders`, `must list exactly ${n} holders (one per position)`)
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const h = id(o.holders[i], `${path}.holders[${i}]`, fail)
    if (seen.has(h)) fail(`${path}.holders[${i}]`, 'repeats a holder (a peer holds at most one position)')
    seen.add(h)
    budget?.add(h.length, path)
  }
  uint(o.version, `${path}.version`, LIMITS.maxNumber, fail)
  uint(o.shareBytes, `${path}.shareBytes`, LIMITS.maxNumber, fail)
  budget?.add(root.length + 48, path)
  return o as unknown as PlacementRecord
}

function positions (x: unknown, path: string, n: number, fail: Fail): number[] {
  if (!Array.isArray(x)) fail(path, 'must be an array')
  if (x.length > n) fail(path, `lists more than ${n} positions`)
  const seen = new Set<number>()
  for (let i = 0; i < x.length; i++) {
    const p = uint(x[i], `${path}[${i}]`, n - 1, fail)
    if (seen.has(p)) fail(`${path}[${i}]`, 'repeats a position')
    seen.add(p)
  }
  return x as number[]
}

const recordFail: Fail = (path, what) => { throw new MalformedRecordError(`malformed placement record: ${path} ${what}`, { field: path }) }
const messageFail: Fail = (path, what) => { throw new MalformedRepairMessageError(`malformed repair message: ${path} ${what}; drop the frame`) }
const snapshotFail: Fail = (path, what) => { throw new MalformedSnapshotError(`malformed repair snapshot: ${path} ${what}`) }

// Checks a placement record from the driver; throws MalformedRecordError.
// Returns the same object (records are never copied or mutated).
export function validateRecord (x: unknown): PlacementRecord {
  return record(x, 'record', recordFail, undefined)
}

// Checks a decoded repair message from a peer; throws MalformedRepairMessageError.
export function validateRepairMessage (x: unknown): RepairMessage {
  const budget = new Budget(messageFail)
  if (!isPlainObject(x) || x.type !== 'status') messageFail('message', 'must be a plain object of type "status"')
  const o = object(x, 'message', Object.hasOwn(x, 'leaving') ? ['type', 'entries', 'leaving'] : ['type', 'entries'], messageFail)
  if (Object.hasOwn(o, 'leaving') && o.leaving !== true) messageFail('message.leaving', 'must be true when present')
  if (!Array.isArray(o.entries)) messageFail('message.entries', 'must be an array')
  if (o.entries.length > LIMITS.entries) messageFail('message.entries', `has more than ${LIMITS.entries} entries`)
  for (let i = 0; i < o.entries.length; i++) {
    const path = `message.entries[${i}]`
    const e = object(o.entries[i], path, ['record', 'held', 'ask'], messageFail)
    const r = record(e.record, `${path}.record`, messageFail, budget)
    positions(e.held, `${path}.held`, sharesOf(r.redundancy).n, messageFail)
    budget.add(8 * (e.held as number[]).length + 8, path)
    if (typeof e.ask !== 'boolean') messageFail(`${path}.ask`, 'must be a boolean')
  }
  return x as unknown as RepairMessage
}

// Checks a snapshot given to the constructor; throws MalformedSnapshotError.
export function validateSnapshot (x: unknown): RepairSnapshot {
  const o = object(x, 'snapshot', ['format', 'objects'], snapshotFail)
  if (o.format !== 1) snapshotFail('snapshot.format', 'must be 1')
  if (!Array.isArray(o.objects)) snapshotFail('snapshot.objects', 'must be an array')
  const roots = new Set<string>()
  for (let i = 0; i < o.objects.length; i++) {
    const path = `snapshot.objects[${i}]`
    const e = object(o.objects[i], path, ['record', 'held', 'key'], snapshotFail)
    const r = record(e.record, `${path}.record`, snapshotFail, undefined)
    id(e.key, `${path}.key`, snapshotFail)
    if (roots.has(r.root)) snapshotFail(path, 'repeats a root')
    roots.add(r.root)
    positions(e.held, `${path}.held`, sharesOf(r.redundancy).n, snapshotFail)
  }
  return x as unknown as RepairSnapshot
}
