// Node-side helpers of the wordcount example: split a text into map inputs,
// build the reduce input from map outputs, decode tables, and the JS
// reference count. Formats: README.md.
import { fileURLToPath } from 'node:url'
import { ByteWriter, decodeCounts, encodeCounts } from '@webfabric/sdk'

/** The map task's source (text chunk → count table), for compileTask. */
export const MAP_SOURCE = fileURLToPath(new URL('./assembly/map.ts', import.meta.url))
/** The reduce task's source (count tables → merged table), for compileTask. */
export const REDUCE_SOURCE = fileURLToPath(new URL('./assembly/reduce.ts', import.meta.url))

export { decodeCounts, encodeCounts }

/** True for bytes the tasks count as part of a word (see assembly/map.ts). */
function isWordByte (c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x27 || c >= 0x80
}

/**
 * Splits UTF-8 text into about `chunks` map inputs of similar size, cutting
 * only between words (at a non-word byte), so counting the chunks separately
 * and merging equals counting the whole.
 */
export function splitText (text: string | Uint8Array, chunks: number): Uint8Array[] {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text
  const target = Math.max(1, Math.ceil(bytes.length / chunks))
  const out: Uint8Array[] = []
  let start = 0
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + target)
    while (end < bytes.length && isWordByte(bytes[end])) end++
    out.push(bytes.subarray(start, end))
    start = end
  }
  return out
}

/** The reduce task's input: the map outputs (count tables), each length-prefixed. */
export function reduceInput (tables: Uint8Array[]): Uint8Array {
  const w = new ByteWriter().u32(tables.length)
  for (const t of tables) w.lenBytes(t)
  return w.finish()
}

/** The JS reference: word counts of a UTF-8 text, by the same word rule as the map task. */
export function countWords (text: string | Uint8Array): Map<string, bigint> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text
  const decoder = new TextDecoder()
  const counts = new Map<string, bigint>()
  let start = -1
  const word: number[] = []
  for (let i = 0; i <= bytes.length; i++) {
    const c = i < bytes.length ? bytes[i] : 0x20
    if (isWordByte(c)) {
      if (start < 0) start = i
      word.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c)
    } else if (start >= 0) {
      const key = decoder.decode(new Uint8Array(word))
      counts.set(key, (counts.get(key) ?? 0n) + 1n)
      word.length = 0
      start = -1
    }
  }
  return counts
}
