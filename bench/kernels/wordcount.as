// Word count: generates size KiB of pseudo-text, counts words with a hash map (strings, allocation, branches).
import { param, emitU32 } from './common'

const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'fabric', 'web', 'wasm', 'fuel', 'slice', 'commit']

export function run (): void {
  const kib = param()
  const counts = new Map<string, u32>()
  let x: u32 = 12345
  let word = ''
  for (let i: u32 = 0; i < kib * 200; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    word = unchecked(WORDS[<i32>(x % <u32>WORDS.length)])
    if ((x & 15) == 0) word += 's'
    counts.set(word, counts.has(word) ? counts.get(word) + 1 : 1)
  }
  let distinct: u32 = 0
  const keys = counts.keys()
  for (let i = 0; i < keys.length; i++) distinct += counts.get(unchecked(keys[i]))
  emitU32(distinct * 1000 + <u32>keys.length)
}
