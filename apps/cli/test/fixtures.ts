// Shared fixtures of the CLI tests: run the real `webfabric` command, and
// bring a local fabric up (`webfabric up`, real processes) and down.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'webfabric.js')
const execFileP = promisify(execFile)

/** Run `webfabric ARGS`; rejects when it exits non-zero. */
export async function runCli (args: string[], timeout = 60_000): Promise<{ stdout: string, stderr: string }> {
  return await execFileP(process.execPath, [BIN, ...args], { timeout, maxBuffer: 64 * 1024 * 1024 })
}

/** Run `webfabric ARGS`, which must fail: its exit code and stderr. */
export async function cliFails (...args: string[]): Promise<{ code: number, stderr: string }> {
  try {
    await execFileP(process.execPath, [BIN, ...args], { timeout: 120_000 })
  } catch (err) {
    const e = err as { code: number, stderr: string }
    return { code: e.code, stderr: e.stderr }
  }
  throw new Error(`webfabric ${args.join(' ')} succeeded but should have failed`)
}

/** What fabric.json says about a running local fabric. */
export interface FabricJson { origin: string, manifest: string, nodes: Array<{ name: string, peerId: string, pid: number, roles: string[] }> }

/** `webfabric up --dir DIR --json ARGS…` until it reports the fabric up; stop it with stopUp. */
export async function startUp (dir: string, args: string[]): Promise<{ up: ChildProcess, fabric: FabricJson }> {
  const up = spawn(process.execPath, [BIN, 'up', '--dir', dir, '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: up.stdout! }).on('line', line => { if (line.includes('"event":"up"')) resolve() })
    up.once('exit', code => reject(new Error(`webfabric up exited with ${code}`)))
  })
  return { up, fabric: JSON.parse(await readFile(join(dir, 'fabric.json'), 'utf8')) }
}

/** Ctrl-C a `webfabric up` and wait for it to stop its fabric. */
export async function stopUp (up: ChildProcess | undefined): Promise<void> {
  if (up == null || up.exitCode != null) return
  up.kill('SIGINT')
  await new Promise(resolve => up.once('exit', resolve))
}
