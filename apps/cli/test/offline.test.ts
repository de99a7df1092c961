// The offline commands: keys, manifests, capabilities and leases, as a user runs them.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'webfabric.js')
const run = promisify(execFile)

async function cli (cwd: string, ...args: string[]): Promise<string> {
  return (await run(process.execPath, [BIN, ...args], { cwd, timeout: 30000 })).stdout
}

async function fails (cwd: string, ...args: string[]): Promise<{ code: number, stderr: string }> {
  try {
    await run(process.execPath, [BIN, ...args], { cwd, timeout: 30000 })
  } catch (err) {
    return err as { code: number, stderr: string }
  }
  throw new Error(`webfabric ${args.join(' ')} should have failed`)
}

describe('webfabric offline commands', () => {
  let dir: string
  let origin: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wf-offline-'))
    origin = JSON.parse(await cli(dir, 'keygen', '--out', 'origin.json', '--json')).did
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keygen writes an owner-only key and refuses to overwrite one', async () => {
    assert.match(origin, /^did:key:z6Mk/)
    const { mode } = await (await import('node:fs/promises')).stat(join(dir, 'origin.json'))
    assert.equal(mode & 0o077, 0)
    const r = await fails(dir, 'keygen', '--out', 'origin.json')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /already exists/)
  })

  it('manifest init, sign and verify; an edited signed manifest is refused', async () => {
    await cli(dir, 'manifest', 'init', '--key', 'origin.json', '--name', 'shop', '--rendezvous', '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWAFYxj2NF5H2scvomEX4ykcctNzaDtQMUcyk3p6PFUy43')
    await cli(dir, 'manifest', 'sign', 'manifest.json', '--key', 'origin.json')
    const ok = JSON.parse(await cli(dir, 'manifest', 'verify', 'manifest.signed.json', '--origin', origin, '--json'))
    assert.equal(ok.manifest.name, 'shop')
    const signed = JSON.parse(await readFile(join(dir, 'manifest.signed.json'), 'utf8'))
    signed.manifest.qos.cpuShare = 1
    await writeFile(join(dir, 'tampered.json'), JSON.stringify(signed))
    const r = await fails(dir, 'manifest', 'verify', 'tampered.json')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /InvalidSignatureError/)
  })

  it('a manifest that is not newer than the current version is refused', async () => {
    const r = await fails(dir, 'manifest', 'verify', 'manifest.signed.json', '--current-version', '1')
    assert.match(r.stderr, /StaleManifestError/)
  })

  it('a manifest with a bad field is refused, naming the field', async () => {
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
    m.redundancy.quorum = 99
    await writeFile(join(dir, 'bad.json'), JSON.stringify(m))
    const r = await fails(dir, 'manifest', 'sign', 'bad.json', '--key', 'origin.json')
    assert.match(r.stderr, /ManifestSchemaError: redundancy\.quorum/)
  })

  it('lease grant and show: a participant grants the origin a time-bounded lease', async () => {
    const lease = JSON.parse(await cli(dir, 'lease', 'grant', '--dir', 'participant', '--origin', origin, '--cpu', '0.25', '--duration', '2h', '--out', 'lease.json', '--json'))
    assert.equal(lease.origin, origin)
    assert.equal(lease.qos.cpuShare, 0.25)
    assert.equal(lease.expiresAt - lease.notBefore, 2 * 3600e3)
    const shown = JSON.parse(await cli(dir, 'lease', 'show', 'lease.json', '--json'))
    assert.equal(shown.id, lease.id)
    assert.equal(shown.status, 'valid')
  })

  it('bad options are usage errors (exit 2) that say what is allowed', async () => {
    const r = await fails(dir, 'lease', 'grant', '--dir', 'p', '--origin', origin, '--cpu', '7')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--cpu must be a number from 0.01 to 1/)
    const d = await fails(dir, 'lease', 'grant', '--dir', 'p', '--origin', origin, '--duration', 'soon')
    assert.equal(d.code, 2)
    const u = await fails(dir, 'manifest', 'sign')
    assert.equal(u.code, 2)
  })

  it('cap issue grants a node a capability it can present', async () => {
    const node = JSON.parse(await cli(dir, 'id', '--dir', 'node', '--origin', origin, '--json')).did
    const cap = JSON.parse(await cli(dir, 'cap', 'issue', '--key', 'origin.json', '--to', node, '--resource', 'topic/chat', '--ability', 'pubsub/publish', '--ttl', '1h', '--json'))
    assert.match(cap.id, /^bafy/)
    assert.ok(cap.token.length > 100)
  })
})
