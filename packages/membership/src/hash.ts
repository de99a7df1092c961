// Hashes for anti-entropy digests: a member's bucket comes from its peer id,
// its record hash from (peer, inc, seq). XOR-ing record hashes per bucket lets
// a view's digest be kept up to date in O(1) per change.

// FNV-1a over the UTF-16 code units of `s`.
export function hashPeer (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

// A well-mixed 32-bit hash of one version of one member.
export function hashRecord (peerHash: number, inc: number, seq: number): number {
  let h = peerHash ^ 0x9e3779b9
  h = Math.imul(h ^ (inc >>> 0), 0x85ebca6b)
  h = Math.imul(h ^ ((inc / 4294967296) >>> 0), 0xc2b2ae35)
  h = Math.imul(h ^ (seq >>> 0), 0x27d4eb2f)
  h = Math.imul(h ^ ((seq / 4294967296) >>> 0), 0x165667b1)
  h ^= h >>> 15
  h = Math.imul(h, 0x85ebca6b)
  return (h ^ (h >>> 13)) >>> 0
}
