// Proof-of-work search: the first nonce in a range whose
// sha256(prefix || nonce as u64 little-endian) has `difficulty` leading zero bits.
// Input and output formats: see ../README.md.
import { input, output, Reader, Writer } from '@webfabric/sdk/assembly'
import { Sha256, leadingZeroBits } from './sha256'

export function run (): void {
  const r = new Reader(input())
  const prefix = r.lenBytes()
  const difficulty = r.u32()
  const start = r.u64()
  const count = r.u64()
  if (difficulty > 256) abort('sha256-pow: difficulty must be at most 256 bits')

  const base = new Sha256()
  base.update(prefix) // full blocks of the prefix are hashed once
  const work = new Sha256()
  const nonceBytes = new Uint8Array(8)
  const digest = new Uint8Array(32)
  const w = new Writer(48)
  for (let i: u64 = 0; i < count; i++) {
    const nonce = start + i
    store<u64>(nonceBytes.dataStart, nonce)
    work.copyFrom(base)
    work.update(nonceBytes)
    work.digestInto(digest)
    if (leadingZeroBits(digest) >= difficulty) {
      w.u8(1).u64(nonce).bytes(digest)
      output(w.finish())
      return
    }
  }
  w.u8(0).u64(count)
  output(w.finish())
}
