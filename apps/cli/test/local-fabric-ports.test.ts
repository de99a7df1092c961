// startLocalFabric chooses the rendezvous's ports before it starts it (the
// signed manifest names them), so another process can take one in between —
// as happens when test files start fabrics side by side. The rendezvous is
// then placed again, on new ports under a new manifest version.
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { type Server, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { startLocalFabric } from '../src/local-fabric.ts'

async function listening (): Promise<Server> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  return s
}
const portOf = (s: Server): number => (s.address() as { port: number }).port

describe('a local fabric whose rendezvous port is taken', () => {
  it('starts the rendezvous on other ports, and every node finds it there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wf-ports-'))
    const squatter = await listening()
    const taken = portOf(squatter)
    let calls = 0
    const lines: string[] = []
    // the first port offered is one another process holds; later ones are free
    const choosePort = async (): Promise<number> => {
      if (calls++ === 0) return taken
      const s = await listening()
      const p = portOf(s)
      await new Promise(resolve => s.close(resolve))
      return p
    }
    let fabric: Awaited<ReturnType<typeof startLocalFabric>> | undefined
    try {
      fabric = await startLocalFabric({ dir, nodes: 1, intervalMs: 250, ttlMs: 2500, choosePort, log: l => lines.push(l) })
      assert.ok(lines.some(l => /port was taken before it could listen; trying other ports \(attempt 2 of 3\)/.test(l)), lines.join('\n'))
      const rv = fabric.file.nodes.find(n => n.name === 'rendezvous')!
      assert.ok(!rv.addrs.some(a => a.includes(`/tcp/${taken}/`)), `still on ${taken}: ${rv.addrs.join(' ')}`)
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.signed.json'), 'utf8'))
      assert.equal(manifest.manifest.version, 2, 'the manifest naming the first ports was replaced')
      assert.ok(!JSON.stringify(manifest.manifest.rendezvous).includes(`/tcp/${taken}/`))
      assert.equal(fabric.file.nodes.length, 2)
    } finally {
      await fabric?.stop()
      squatter.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
