// Strict shape and size checks for decoded frames: anything that is not
// exactly a membership message within LIMITS is refused before the core sees it.

import { LIMITS, MAX_BUCKETS } from './constants.ts'
import { MalformedMessageError } from './errors.ts'
import type { Heartbeat, MembershipMessage, Version } from './types.ts'

const KEYS: Record<string, string[]> = {
  ping: ['type', 'nonce', 'heartbeats', 'suspects'],
  ack: ['type', 'nonce', 'heartbeats', 'suspects'],
  'ping-req': ['type', 'nonce', 'target', 'heartbeats', 'suspects'],
  gossip: ['type', 'heartbeats', 'suspects'],
  sync: ['type', 'nonce', 'digest', 'heartbeats', 'suspects'],
  'sync-summary': ['type', 'nonce', 'buckets', 'cover', 'have', 'settled', 'heartbeats', 'suspects'],
  'sync-push': ['type', 'nonce', 'need', 'heartbeats', 'suspects']
}
const BODY_KEYS = ['peer', 'inc', 'seq', 'status', 'roles', 'capacity', 'load', 'addrs']
const SUSPECT_KEYS = ['peer', 'inc', 'seq']

function fail (path: string, what: string): never {
  throw new MalformedMessageError(`Malformed membership message: ${path} ${what}; drop the frame`)
}

function isPlainObject (x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

function object (x: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(x)) fail(path, 'must be a plain object')
  const own = Object.keys(x)
  if (own.length !== keys.length) fail(path, `must have exactly the keys ${keys.join(', ')}`)
  for (const k of keys) if (!Object.hasOwn(x, k)) fail(path, `is missing "${k}"`)
  return x
}

function array (x: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(x)) fail(path, 'must be an array')
  if (x.length > max) fail(path, `has ${x.length} entries, more than ${max}`)
  return x
}

function uint (x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(path, 'must be a non-negative safe integer')
  return x
}

// Counts bytes as it checks, so the size bound holds whatever the shape.
class Budget {
  used = 0
  add (n: number, path: string): void {
    this.used += n
    if (this.used > LIMITS.bytes) fail(path, `takes the message over ${LIMITS.bytes} bytes`)
  }
}

function string (x: unknown, path: string, max: number, budget: Budget): string {
  if (typeof x !== 'string') fail(path, 'must be a string')
  if (x.length === 0 || x.length > max) fail(path, `must have 1..${max} characters`)
  budget.add(x.length + 2, path)
  return x
}

function numbers (x: unknown, path: string, budget: Budget): void {
  if (!isPlainObject(x)) fail(path, 'must be a plain object')
  const keys = Object.keys(x)
  if (keys.length > LIMITS.keys) fail(path, `has more than ${LIMITS.keys} keys`)
  for (const k of keys) {
    string(k, `${path} key`, LIMITS.keyChars, budget)
    const v = x[k]
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${path}.${k}`, 'must be a finite number')
    budget.add(9, path)
  }
}

function heartbeat (x: unknown, path: string, budget: Budget): Heartbeat {
  const hb = object(x, path, ['body', 'sig'])
  const body = object(hb.body, `${path}.body`, BODY_KEYS)
  string(body.peer, `${path}.body.peer`, LIMITS.peerChars, budget)
  uint(body.inc, `${path}.body.inc`)
  uint(body.seq, `${path}.body.seq`)
  if (body.status !== 'alive' && body.status !== 'left') fail(`${path}.body.status`, 'must be "alive" or "left"')
  const roles = array(body.roles, `${path}.body.roles`, LIMITS.roles)
  roles.forEach((r, i) => { string(r, `${path}.body.roles[${i}]`, LIMITS.roleChars, budget) })
  numbers(body.capacity, `${path}.body.capacity`, budget)
  numbers(body.load, `${path}.body.load`, budget)
  const addrs = array(body.addrs, `${path}.body.addrs`, LIMITS.addrs)
  addrs.forEach((a, i) => { string(a, `${path}.body.addrs[${i}]`, LIMITS.addrChars, budget) })
  if (!(hb.sig instanceof Uint8Array)) fail(`${path}.sig`, 'must be a Uint8Array')
  if (hb.sig.length > LIMITS.sigBytes) fail(`${path}.sig`, `must be at most ${LIMITS.sigBytes} bytes`)
  budget.add(hb.sig.length + 40, path)
  return x as Heartbeat
}

function version (x: unknown, path: string, budget: Budget): Version {
  const s = object(x, path, SUSPECT_KEYS)
  string(s.peer, `${path}.peer`, LIMITS.peerChars, budget)
  uint(s.inc, `${path}.inc`)
  uint(s.seq, `${path}.seq`)
  budget.add(20, path)
  return x as Version
}

function isPow2 (n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0
}

// Returns `x` typed as a message if it is one; throws MalformedMessageError
// (saying what is wrong) otherwise. Never mutates `x`.
export function validateMessage (x: unknown): MembershipMessage {
  if (!isPlainObject(x)) fail('message', 'must be a plain object')
  const type = x.type
  if (typeof type !== 'string' || !Object.hasOwn(KEYS, type)) fail('message.type', 'is not a known membership message type')
  const m = object(x, 'message', KEYS[type])
  const budget = new Budget()
  const hbs = array(m.heartbeats, 'message.heartbeats', LIMITS.records)
  const sus = array(m.suspects, 'message.suspects', LIMITS.records)
  if (hbs.length + sus.length > LIMITS.records) fail('message', `carries more than ${LIMITS.records} records`)
  hbs.forEach((h, i) => { heartbeat(h, `message.heartbeats[${i}]`, budget) })
  sus.forEach((s, i) => { version(s, `message.suspects[${i}]`, budget) })
  switch (type) {
    case 'ping':
    case 'ack':
      uint(m.nonce, 'message.nonce')
      break
    case 'ping-req':
      uint(m.nonce, 'message.nonce')
      string(m.target, 'message.target', LIMITS.peerChars, budget)
      break
    case 'sync': {
      uint(m.nonce, 'message.nonce')
      const digest = array(m.digest, 'message.digest', MAX_BUCKETS)
      if (!isPow2(digest.length)) fail('message.digest', 'must have a power-of-two length')
      digest.forEach((d, i) => { if (uint(d, `message.digest[${i}]`) > 0xffffffff) fail(`message.digest[${i}]`, 'must be a 32-bit value') })
      break
    }
    case 'sync-summary': {
      uint(m.nonce, 'message.nonce')
      const buckets = uint(m.buckets, 'message.buckets')
      if (!isPow2(buckets) || buckets > MAX_BUCKETS) fail('message.buckets', `must be a power of two up to ${MAX_BUCKETS}`)
      const cover = array(m.cover, 'message.cover', MAX_BUCKETS)
      cover.forEach((w, i) => { if (uint(w, `message.cover[${i}]`) >= buckets) fail(`message.cover[${i}]`, 'must be a bucket index') })
      const have = array(m.have, 'message.have', LIMITS.versions)
      have.forEach((v, i) => { version(v, `message.have[${i}]`, budget) })
      if (uint(m.settled, 'message.settled') > have.length) fail('message.settled', 'must not exceed the number of versions')
      break
    }
    case 'sync-push': {
      uint(m.nonce, 'message.nonce')
      const need = array(m.need, 'message.need', LIMITS.versions)
      need.forEach((p, i) => { string(p, `message.need[${i}]`, LIMITS.peerChars, budget) })
      break
    }
  }
  return x as unknown as MembershipMessage
}
