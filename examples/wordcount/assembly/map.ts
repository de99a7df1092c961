// Word count, map step: UTF-8 text → count table. A word is a maximal run of
// ASCII letters, ASCII digits, apostrophes and non-ASCII bytes (so UTF-8
// letters stay inside words); ASCII letters are lowercased. Output: the
// SDK's canonical count table (sorted by key bytes). Formats: ../README.md.
import { input, output, Writer, writeCounts } from '@webfabric/sdk/assembly'

// @ts-ignore: decorator
@inline function isWordByte (c: u32): bool {
  return (c - 0x61 < 26) || (c - 0x41 < 26) || (c - 0x30 < 10) || c == 0x27 || c >= 0x80
}

export function run (): void {
  const text = input()
  const counts = new Map<string, u64>()
  const word = new Uint8Array(text.length) // lowercased copy of the current word
  let len = 0
  for (let i = 0; i <= text.length; i++) {
    const c: u32 = i < text.length ? <u32>unchecked(text[i]) : 0x20
    if (isWordByte(c)) {
      unchecked(word[len++] = <u8>(c - 0x41 < 26 ? c + 0x20 : c))
    } else if (len > 0) {
      const key = String.UTF8.decodeUnsafe(word.dataStart, <usize>len)
      counts.set(key, counts.has(key) ? counts.get(key) + 1 : 1)
      len = 0
    }
  }
  const w = new Writer(64 + counts.size * 16)
  writeCounts(w, counts)
  output(w.finish())
}
