// The web app's build: Vite output the node's web gateway can serve under its
// CSP (one module script, no inline script or style, the sandbox worker as
// its own chunk), and a second call with unchanged sources does not rebuild.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { STAMP_FILE, buildWebApp, sourceHash } from '../build.ts'

describe('buildWebApp', () => {
  let out: string
  let built: string

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'webfabric-web-'))
    built = await buildWebApp({ outDir: out, force: true })
  })

  after(async () => {
    await rm(out, { recursive: true, force: true })
  })

  it('returns the absolute output folder, stamped with the sources\' hash', async () => {
    assert.equal(built, out)
    assert.equal((await readFile(join(out, STAMP_FILE), 'utf8')).trim(), sourceHash(out))
  })

  it('writes an index.html that loads one module script from /assets and has nothing inline', async () => {
    const html = await readFile(join(out, 'index.html'), 'utf8')
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    assert.equal(scripts.length, 1, 'one script element')
    assert.match(scripts[0][1], /type="module"/)
    assert.match(scripts[0][1], /src="\/assets\/[^"]+\.js"/)
    assert.equal(scripts[0][2].trim(), '', 'no inline script content')
    assert.doesNotMatch(html, /<style\b/, 'no inline style element')
    assert.doesNotMatch(html, /\sstyle=/, 'no style attributes')
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers')
    const src = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1] ?? ''
    assert.ok((await stat(join(out, src))).isFile(), 'the entry script exists')
  })

  it('emits the sandbox worker as its own chunk, referenced by the participant page', async () => {
    const assets = await readdir(join(out, 'assets'))
    const worker = assets.find(f => /^worker-web-.*\.js$/.test(f))
    assert.ok(worker != null, `a worker chunk among ${assets.join(', ')}`)
    const chunks = await Promise.all(assets.filter(f => f.endsWith('.js') && f !== worker).map(f => readFile(join(out, 'assets', f), 'utf8')))
    assert.ok(chunks.some(c => c.includes(`/assets/${worker}`)), 'some chunk names the worker\'s URL')
  })

  it('does not rebuild when nothing changed', async () => {
    const before = await Promise.all([STAMP_FILE, 'index.html'].map(async f => (await stat(join(out, f))).mtimeMs))
    const t0 = performance.now()
    assert.equal(await buildWebApp({ outDir: out }), out)
    const took = performance.now() - t0
    const after = await Promise.all([STAMP_FILE, 'index.html'].map(async f => (await stat(join(out, f))).mtimeMs))
    assert.deepEqual(after, before, 'the output was not rewritten')
    assert.ok(took < 5000, `the check alone took ${Math.round(took)} ms`)
  })

  it('rebuilds when forced', async () => {
    const stampBefore = (await stat(join(out, STAMP_FILE))).mtimeMs
    await buildWebApp({ outDir: out, force: true })
    assert.ok((await stat(join(out, STAMP_FILE))).mtimeMs > stampBefore)
  })
})
