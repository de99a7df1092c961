// Placement: which members hold an object's shares. Weighted rendezvous
// (highest-random-weight) hashing: every (key, member) pair gets a score
// weight / -ln(u), u ∈ (0, 1) a hash of the pair, and the members rank by
// score. Exactly the members every node would pick given the same member list,
// with no table to agree on: a member leaving moves only the keys it held, a
// member joining takes only the keys it now wins, and a member's share of keys
// is its weight over the total (score = 1 / Exp(weight): the highest score is
// the smallest of independent exponentials, won with probability w / Σw).
//
// The hash is our own 53-bit non-cryptographic mix, not SHA-256: ranking 500
// members for each of thousands of objects must be cheap and synchronous, and a
// cryptographic hash would not stop a member from grinding peer ids anyway
// (being first for one key among n members takes ~n tries with any hash);
// membership capabilities, issued by the origin, are what bound that.
// (membership's hashPeer is 32-bit FNV-1a, too weakly mixed to score with.)

// A storage member as placement sees it: `weight` is its relative capacity
// (0 = never chosen).
export interface PlacementMember {
  peer: string
  weight: number
}

// Bad input to rankHolders: a non-finite or negative weight, an empty or
// duplicate peer id, or a count that is not a non-negative integer.
export class InvalidPlacementInputError extends Error {
  static name = 'InvalidPlacementInputError'
  constructor (message = 'invalid placement input: weights must be finite and ≥ 0, peers distinct non-empty strings, count an integer ≥ 0') {
    super(message)
    this.name = 'InvalidPlacementInputError'
  }
}

const TWO_32 = 4294967296
const TWO_53 = 9007199254740992

function fmix (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

// Two 32-bit lanes over the UTF-16 code units of `s`, continuing from (a, b).
// Lane state is returned through `lanes` to avoid allocating per member.
const lanes = [0, 0]
function absorb (a: number, b: number, s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 0x5bd1e995)
    a ^= a >>> 15
    b = Math.imul(b ^ c, 0x27d4eb2f)
    b = (b << 13) | (b >>> 19)
  }
  lanes[0] = a
  lanes[1] = b
}

// u ∈ (0, 1) from the lanes after a key and a peer were absorbed: the two
// lanes are finalised into 53 bits (21 + 32), offset by half a step so that
// neither 0 nor 1 can come out.
function unit (a: number, b: number, len: number): number {
  const x = fmix(a ^ len)
  const y = fmix(b + Math.imul(x, 0x9e3779b1))
  const z = fmix(x ^ ((y << 7) | (y >>> 25)))
  return ((z >>> 11) * TWO_32 + y + 0.5) / TWO_53
}

// The uniform (0, 1) hash of (key, peer) that placement scores with; pure and
// the same on every platform. Exported for tests and for derived jitter.
export function placementHash (key: string, peer: string): number {
  absorb(0x811c9dc5 ^ key.length, 0x2545f491, key)
  const a = lanes[0] ^ 0xff
  const b = lanes[1] ^ 0xff
  absorb(a, b, peer)
  return unit(lanes[0], lanes[1], key.length + peer.length)
}

// Ranks `members` for `key` by weighted rendezvous score, best first, and
// returns the first `count` peers (fewer if fewer are eligible). Members in
// `exclude` and members of weight 0 are never returned. Deterministic and pure;
// throws InvalidPlacementInputError on bad input.
export function rankHolders (key: string, members: readonly PlacementMember[], count: number, exclude?: ReadonlySet<string>): string[] {
  if (typeof key !== 'string') throw new InvalidPlacementInputError('invalid placement input: key must be a string')
  if (!Number.isSafeInteger(count) || count < 0) throw new InvalidPlacementInputError(`invalid placement input: count must be an integer ≥ 0, got ${String(count)}`)
  const seen = new Set<string>()
  for (const m of members) {
    if (typeof m?.peer !== 'string' || m.peer.length === 0) throw new InvalidPlacementInputError('invalid placement input: every member needs a non-empty peer id')
    if (typeof m.weight !== 'number' || !Number.isFinite(m.weight) || m.weight < 0) throw new InvalidPlacementInputError(`invalid placement input: weight of ${m.peer} must be finite and ≥ 0, got ${String(m.weight)}`)
    if (seen.has(m.peer)) throw new InvalidPlacementInputError(`invalid placement input: peer ${m.peer} is listed twice`)
    seen.add(m.peer)
  }
  if (count === 0) return []
  absorb(0x811c9dc5 ^ key.length, 0x2545f491, key)
  const ka = lanes[0] ^ 0xff
  const kb = lanes[1] ^ 0xff
  const scored: { peer: string, score: number }[] = []
  for (const m of members) {
    if (m.weight === 0 || exclude?.has(m.peer) === true) continue
    absorb(ka, kb, m.peer)
    const u = unit(lanes[0], lanes[1], key.length + m.peer.length)
    scored.push({ peer: m.peer, score: -m.weight / Math.log(u) })
  }
  const better = (x: { peer: string, score: number }, y: { peer: string, score: number }): number =>
    x.score !== y.score ? y.score - x.score : (x.peer < y.peer ? -1 : x.peer > y.peer ? 1 : 0)
  if (count * 8 >= scored.length) return scored.sort(better).slice(0, count).map(s => s.peer)
  // few wanted out of many: keep a small sorted top list
  const top: { peer: string, score: number }[] = []
  for (const s of scored) {
    if (top.length === count && better(s, top[count - 1]) >= 0) continue
    let i = top.length < count ? top.length : count - 1
    if (top.length < count) top.push(s)
    while (i > 0 && better(s, top[i - 1]) < 0) { top[i] = top[i - 1]; i-- }
    top[i] = s
  }
  return top.map(s => s.peer)
}
