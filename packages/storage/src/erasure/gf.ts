// Arithmetic in GF(2^8), the field Reed-Solomon codes of bytes work in:
// addition is XOR, multiplication is polynomial multiplication modulo
// x^8 + x^4 + x^3 + x^2 + 1 (0x11d, the polynomial of ISA-L, Backblaze,
// klauspost/reedsolomon and most storage codes), with 2 as the generator.
// All tables are built once at load and never written after.

/** The field's reduction polynomial, x^8 + x^4 + x^3 + x^2 + 1. */
export const POLYNOMIAL = 0x11d

/** EXP[i] = 2^i for i in 0..509 (doubled so EXP[LOG[a] + LOG[b]] needs no reduction mod 255). */
export const EXP = new Uint8Array(510)
/** LOG[a] = i such that 2^i = a, for a ≠ 0 (LOG[0] is unused). */
export const LOG = new Uint8Array(256)
/** MUL[(a << 8) | b] = a·b: the whole multiplication table, 64 KiB. */
export const MUL = new Uint8Array(65536)
/** NIBBLES[c·32 .. c·32+31]: c·x for x = 0..15, then c·(x << 4) for x = 0..15 (the split tables of the SIMD kernel). */
export const NIBBLES = new Uint8Array(256 * 32)

{
  let x = 1
  for (let i = 0; i < 255; i++) {
    EXP[i] = x
    EXP[i + 255] = x
    LOG[x] = i
    x <<= 1
    if (x & 0x100) x ^= POLYNOMIAL
  }
  for (let a = 1; a < 256; a++) {
    for (let b = 1; b < 256; b++) MUL[(a << 8) | b] = EXP[LOG[a] + LOG[b]]
  }
  for (let c = 0; c < 256; c++) {
    for (let x = 0; x < 16; x++) {
      NIBBLES[c * 32 + x] = MUL[(c << 8) | x]
      NIBBLES[c * 32 + 16 + x] = MUL[(c << 8) | (x << 4)]
    }
  }
}

/** The multiplicative inverse of a ≠ 0 (inverse of 0 is undefined; callers never ask). */
export function gfInv (a: number): number {
  return EXP[255 - LOG[a]]
}
