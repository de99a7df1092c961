// Reed-Solomon erasure coding throughput (packages/storage/src/erasure):
// encode and worst-case reconstruct of 1 MiB shards for 4+2 and 10+4, ours
// (WebAssembly SIMD, split-nibble tables) against a plain scalar GF(2^8)
// codec with log/exp tables measured in the same run, and our JavaScript
// fallback for reference.
//
//   npx node bench/erasure.ts [--rounds 7] [--warmup 2] [--shard-kib 1024] [--codes 4+2,10+4] [--json]
//
// encode MB/s = k × shard bytes / seconds; decode MB/s = the same data bytes
// / seconds to reconstruct with the first m data shards missing (the worst
// case: m rows of the inverted matrix over k shards). Each sample repeats the
// operation for at least ~60 ms of CPU time; sides alternate within a round
// (ours, scalar, scalar, ours, …) so drift and other load fall on both. Times
// are CPU time of this process (the machine is shared); figures are medians
// of the rounds. Every side's output is checked against ours.
// Goal (issue 4): ≥ 500 MB/s encode on one core for 4+2 and 10+4 at 1 MiB.
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { createErasureCodec, type ErasureCodec } from '../packages/storage/src/erasure/index.ts'
import { EXP, LOG } from '../packages/storage/src/erasure/gf.ts'
import { generatorRow, invert, multiply, parityMatrix } from '../packages/storage/src/erasure/matrix.ts'
import { fmt, median, table } from './lib/stats.ts'

const GOAL_MBS = 500

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '2' },
    'shard-kib': { type: 'string', default: '1024' },
    codes: { type: 'string', default: '4+2,10+4' },
    json: { type: 'boolean', default: false }
  }
})
const rounds = Number(values.rounds)
const warmup = Number(values.warmup)
const shardSize = Number(values['shard-kib']) * 1024
const codes = values.codes.split(',').map(c => c.split('+').map(Number) as [number, number])
const log = (s: string): void => { if (!values.json) console.log(s); else console.error(s) }

/** CPU time of this process (user + system) in ms. */
function cpuMs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

// ---- the baseline: scalar GF(2^8) with log/exp tables, one byte at a time ----

/** out[r] = Σ coef[r][c] · in[c], each product EXP[LOG[a] + LOG[b]] (0 when either is 0). */
function scalarApply (coefficients: Uint8Array, inputs: Uint8Array[], rows: number): Uint8Array[] {
  const k = inputs.length
  const size = inputs[0].length
  const outputs: Uint8Array[] = []
  for (let r = 0; r < rows; r++) {
    const out = new Uint8Array(size)
    for (let c = 0; c < k; c++) {
      const f = coefficients[r * k + c]
      if (f === 0) continue
      const lf = LOG[f]
      const input = inputs[c]
      for (let i = 0; i < size; i++) {
        const x = input[i]
        if (x !== 0) out[i] ^= EXP[lf + LOG[x]]
      }
    }
    outputs.push(out)
  }
  return outputs
}

function scalarEncode (data: Uint8Array[], m: number): Uint8Array[] {
  return scalarApply(parityMatrix(data.length, m), data, m)
}

/** Reconstruct the missing data shards 0..m-1 from shards m..k+m-1 (the same choice ours makes). */
function scalarReconstruct (shards: (Uint8Array | undefined)[], k: number, m: number): Uint8Array[] {
  const parity = parityMatrix(k, m)
  const use: number[] = []
  for (let i = 0; use.length < k; i++) if (shards[i] !== undefined) use.push(i)
  const sub = new Uint8Array(k * k)
  use.forEach((index, j) => { sub.set(generatorRow(k, parity, index), j * k) })
  const missing = Array.from({ length: m }, (_, i) => i)
  const g = new Uint8Array(m * k)
  missing.forEach((index, j) => { g.set(generatorRow(k, parity, index), j * k) })
  return scalarApply(multiply(g, invert(sub, k), m, k, k), use.map(i => shards[i] as Uint8Array), m)
}

// ---- measuring ----

/** Per-operation CPU ms of `op`, repeated until a sample holds at least ~60 ms. */
function sample (op: () => void, reps: number): number {
  const t = cpuMs()
  for (let i = 0; i < reps; i++) op()
  return (cpuMs() - t) / reps
}

function repsFor (op: () => void): number {
  const t = cpuMs()
  op()
  return Math.max(1, Math.ceil(60 / Math.max(cpuMs() - t, 0.5)))
}

function same (a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x).equals(Buffer.from(b[i])))
}

interface Side { name: string, encode: () => Uint8Array[], decode: () => Uint8Array[] }
interface Figures { encodeMBs: number, decodeMBs: number, encodeSamplesMs: number[], decodeSamplesMs: number[] }
interface CodeResult { k: number, m: number, shardBytes: number, ours: Figures, js: Figures, scalar: Figures, encodeRatio: number, decodeRatio: number }

const results: CodeResult[] = []
for (const [k, m] of codes) {
  const data = Array.from({ length: k }, (_, s) => {
    const shard = new Uint8Array(shardSize)
    let x = 0x9e3779b9 ^ (s * 0x85ebca6b)
    for (let i = 0; i < shardSize; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5
      shard[i] = x & 0xff
    }
    return shard
  })
  const dataBytes = k * shardSize
  const wasm = createErasureCodec(k, m)
  const js = createErasureCodec(k, m, { backend: 'js' })
  const parity = wasm.encode(data)
  const damaged: (Uint8Array | undefined)[] = [...data, ...parity]
  for (let i = 0; i < m; i++) damaged[i] = undefined
  const ofCodec = (name: string, codec: ErasureCodec): Side => ({
    name,
    encode: () => codec.encode(data),
    decode: () => codec.reconstruct(damaged).slice(0, m)
  })
  const sides: Side[] = [
    ofCodec(wasm.backend, wasm),
    ofCodec('js', js),
    { name: 'scalar', encode: () => scalarEncode(data, m), decode: () => scalarReconstruct(damaged, k, m) }
  ]
  const expectedDecode = data.slice(0, m)
  for (const side of sides) {
    if (!same(side.encode(), parity)) throw new Error(`${side.name}: ${k}+${m} parity differs from ours`)
    if (!same(side.decode(), expectedDecode)) throw new Error(`${side.name}: ${k}+${m} reconstruction differs from the data`)
  }
  const reps = sides.map(s => ({ encode: repsFor(s.encode), decode: repsFor(s.decode) }))
  for (let w = 0; w < warmup; w++) sides.forEach((s, i) => { sample(s.encode, reps[i].encode); sample(s.decode, reps[i].decode) })
  const enc: number[][] = sides.map(() => [])
  const dec: number[][] = sides.map(() => [])
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1, 2] : [2, 1, 0]
    for (const i of order) {
      enc[i].push(sample(sides[i].encode, reps[i].encode))
      dec[i].push(sample(sides[i].decode, reps[i].decode))
    }
  }
  const figures = (i: number): Figures => ({
    encodeMBs: dataBytes / 1e6 / (median(enc[i]) / 1000),
    decodeMBs: dataBytes / 1e6 / (median(dec[i]) / 1000),
    encodeSamplesMs: enc[i],
    decodeSamplesMs: dec[i]
  })
  const res: CodeResult = {
    k, m, shardBytes: shardSize, ours: figures(0), js: figures(1), scalar: figures(2), encodeRatio: 0, decodeRatio: 0
  }
  res.encodeRatio = res.ours.encodeMBs / res.scalar.encodeMBs
  res.decodeRatio = res.ours.decodeMBs / res.scalar.decodeMBs
  results.push(res)
  log(`${k}+${m}: encode ${fmt(res.ours.encodeMBs)} MB/s (${wasm.backend}), scalar ${fmt(res.scalar.encodeMBs)} MB/s, x${fmt(res.encodeRatio, 1)}; ` +
    `decode ${fmt(res.ours.decodeMBs)} MB/s, scalar ${fmt(res.scalar.decodeMBs)} MB/s, x${fmt(res.decodeRatio, 1)}`)
}

const load = loadavg()[0]
const backend = createErasureCodec(1, 1).backend
if (values.json) {
  console.log(JSON.stringify({ node: process.version, backend, goalMBs: GOAL_MBS, rounds, shardBytes: shardSize, load, results }, null, 2))
} else {
  console.log()
  console.log(table(['code', 'op', `ours (${backend}) MB/s`, 'js fallback MB/s', 'scalar MB/s', 'ours/scalar'],
    results.flatMap(r => [
      [`${r.k}+${r.m}`, 'encode', fmt(r.ours.encodeMBs), fmt(r.js.encodeMBs), fmt(r.scalar.encodeMBs), fmt(r.encodeRatio, 1)],
      [`${r.k}+${r.m}`, `decode (${r.m} data lost)`, fmt(r.ours.decodeMBs), fmt(r.js.decodeMBs), fmt(r.scalar.decodeMBs), fmt(r.decodeRatio, 1)]
    ])))
  console.log(`\ngoal: encode >= ${GOAL_MBS} MB/s on one core; ${shardSize / 1024} KiB shards; MB = 10^6 bytes of data; medians of ${rounds} rounds of CPU time; ` +
    `1-minute load ${load.toFixed(2)} (2 cores: above 2, others compete for the CPU)`)
}
