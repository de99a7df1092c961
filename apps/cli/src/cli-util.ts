// Shared helpers of the CLI: argument parsing, output, errors and exit codes.
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  static name = 'UsageError'
  constructor (message = 'Invalid usage; see `webfabric help`') { super(message); this.name = 'UsageError' }
}

/** Parse a command's arguments; unknown options are usage errors. */
/** Parsed options: strings, booleans, or arrays of strings for `multiple` options. */
// biome-ignore lint/suspicious/noExplicitAny: option values are typed by each command's own checks
export type Values = Record<string, any>

export function parse<T extends ParseArgsConfig['options']> (args: string[], options: T, usage: string): { values: Values, positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
    if ((r.values as Record<string, unknown>).help === true) {
      console.log(usage)
      process.exit(0)
    }
    return r as { values: Values, positionals: string[] }
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`)
  }
}

/** Print a value as JSON (for --json) or as text. */
export function out (json: boolean, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text())
}

/** Parse a duration like 90s, 15m, 2h, 7d (or plain milliseconds). */
export function parseDuration (s: string, what = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim())
  if (m == null) throw new UsageError(`${what} ${JSON.stringify(s)} is not a duration: use e.g. 90s, 15m, 2h or 7d`)
  const n = Number(m[1])
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[(m[2] ?? 'ms') as 'ms']
  return Math.round(n * unit)
}

/** Parse a number option within bounds. */
export function parseNumber (s: string | undefined, what: string, min: number, max: number): number | undefined {
  if (s == null) return undefined
  const n = Number(s)
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${what} must be a number from ${min} to ${max} (got ${JSON.stringify(s)})`)
  return n
}

/** A short human form of an age in ms. */
export function ago (ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms ago`
  if (ms < 120e3) return `${(ms / 1000).toFixed(1)}s ago`
  return `${Math.round(ms / 60e3)}m ago`
}

/** Render rows as an aligned text table. */
export function table (head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(w[i])).join('  ').trimEnd()
  return [line(head), ...rows.map(line)].join('\n')
}
