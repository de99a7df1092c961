// A Node worker's module store: task modules by CID in the data directory
// (`modules/<cid>.wasm`), written to a temporary file and renamed into place.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ModuleStore } from './compute-worker.ts'

/** Modules on disk under `dir` (created on first use). Reads are re-checked against the CID by the worker. */
export function diskModuleStore (dir: string): ModuleStore {
  let made: Promise<unknown> | undefined
  return {
    get: async cid => {
      if (!/^[a-z0-9]+$/.test(cid)) return undefined
      try { return new Uint8Array(await readFile(join(dir, `${cid}.wasm`))) } catch { return undefined }
    },
    put: async (cid, bytes) => {
      made ??= mkdir(dir, { recursive: true })
      await made
      const path = join(dir, `${cid}.wasm`)
      await writeFile(`${path}.tmp`, bytes)
      await rename(`${path}.tmp`, path)
    }
  }
}
