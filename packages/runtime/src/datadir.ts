// A node's data directory: its keyring (the secret its origin-scoped identities
// derive from), its configuration, the revocations it has learned and the
// leases it granted. Writes are atomic (temp file + rename) so a crash never
// leaves a half-written file behind.
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Keyring, fromBase64url, toBase64url } from '@webfabric/protocol'
import { DataDirError } from './errors.ts'
import type { StateFiles } from './state-files.ts'

/** Read a JSON file, or `undefined` when it does not exist. */
export async function readJson<T> (path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new DataDirError(`cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text) as T
  } catch (err) {
    throw new DataDirError(`${path} is not valid JSON (${(err as Error).message}); fix or remove it`)
  }
}

/** Write a JSON file atomically and durably; `secret` files are readable by the owner only. */
export async function writeJson (path: string, value: unknown, opts: { secret?: boolean } = {}): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fh = await open(tmp, 'w', opts.secret === true ? 0o600 : 0o644)
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  // the rename itself is durable only once the directory is
  const dir = await open(dirname(path), 'r')
  try { await dir.sync() } finally { await dir.close() }
}

/** JSON documents as files `<name>.json` in `dir` (created on first write). */
export function dirStateFiles (dir: string): StateFiles {
  const where = (name: string): string => join(dir, `${name}.json`)
  return {
    read: async <T>(name: string) => await readJson<T>(where(name)),
    write: async (name, value) => { await ensureDir(dir); await writeJson(where(name), value) },
    where
  }
}

/** Create the directory if needed (owner-only). */
export async function ensureDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
}

/** Load the node's keyring, creating a new secret on first use. */
export async function loadKeyring (dir: string): Promise<Keyring> {
  await ensureDir(dir)
  const path = join(dir, 'keyring.json')
  const stored = await readJson<{ secret?: string }>(path)
  if (stored != null) {
    if (typeof stored.secret !== 'string') throw new DataDirError(`${path} has no "secret"; remove it to start with a new identity`)
    return await Keyring.fromSecret(fromBase64url(stored.secret))
  }
  const keyring = await Keyring.generate()
  await writeJson(path, { secret: toBase64url(keyring.secret) }, { secret: true })
  return keyring
}

/** A fresh random admin token. */
export function newAdminToken (): string {
  return randomBytes(32).toString('base64url')
}

export { readFile, writeFile }
