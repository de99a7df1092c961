// Word count, reduce step: several count tables → one merged table (sums per
// word, canonical order). Input: u32 table count, then each table as u32
// byte length + table bytes. Formats: ../README.md.
import { input, output, Reader, Writer, readCountsInto, writeCounts } from '@webfabric/sdk/assembly'

export function run (): void {
  const r = new Reader(input())
  const tables = r.u32()
  const merged = new Map<string, u64>()
  for (let t: u32 = 0; t < tables; t++) readCountsInto(new Reader(r.lenBytes()), merged)
  const w = new Writer(64 + merged.size * 16)
  writeCounts(w, merged)
  output(w.finish())
}
