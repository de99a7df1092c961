// Running code in a real browser from a node:test: bundle a TypeScript entry
// (and any worker scripts) with esbuild, serve them from 127.0.0.1 — a secure
// context, cross-origin isolated, so WebCrypto, IndexedDB, SharedArrayBuffer
// and Atomics behave as on a real origin — open the page in Debian's Chromium
// through playwright-core, and call the functions the entry exports.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM_ARGS, ensureChromium } from './chromium.ts'

/** A page with a bundled entry loaded; `call(name, ...args)` runs one of its exports in the page. */
export interface BrowserPage {
  page: Page
  call: <T = unknown>(name: string, ...args: unknown[]) => Promise<T>
  /** Opens the entry again in another tab of the same browser (closing it closes only that tab). */
  another: () => Promise<BrowserPage>
  close: () => Promise<void>
}

const HTML = '<!doctype html><meta charset="utf-8"><title>webfabric test</title><script type="module" src="/entry.js"></script>'

/**
 * Bundles `entry` (its exports become `globalThis.__exports` in the page), serves it and opens it in
 * Chromium. Close it when done: it owns the browser and the server.
 */
export async function openInBrowser (entry: string, opts: { workers?: Record<string, string> } = {}): Promise<BrowserPage> {
  // more entries served as /<name>.js (e.g. a Web Worker's script)
  const extra = new Map<string, Uint8Array>()
  for (const [name, path] of Object.entries(opts.workers ?? {})) {
    const b = await build({ entryPoints: [path], bundle: true, format: 'esm', platform: 'browser', target: 'chrome120', write: false, logLevel: 'silent' })
    extra.set(`/${name}.js`, b.outputFiles[0].contents)
  }
  const bundle = await build({
    stdin: { contents: `import * as m from ${JSON.stringify(entry)}\nglobalThis.__exports = m\nglobalThis.__ready = true\n`, resolveDir: process.cwd(), loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent'
  })
  const js = bundle.outputFiles[0].contents
  // cross-origin isolated, so pages and workers may share memory (SharedArrayBuffer, Atomics.wait)
  const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]
    if (url === '/entry.js') res.writeHead(200, { 'content-type': 'text/javascript', ...isolation }).end(js)
    else if (extra.has(url)) res.writeHead(200, { 'content-type': 'text/javascript', ...isolation }).end(extra.get(url))
    else if (url === '/' || url === '/index.html') res.writeHead(200, { 'content-type': 'text/html', ...isolation }).end(HTML)
    else res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  let browser: Browser | undefined
  try {
    browser = await chromium.launch({ executablePath: process.env.WEBFABRIC_CHROMIUM ?? ensureChromium(), args: CHROMIUM_ARGS, headless: true })
    const b = browser
    // one profile: every page is a tab of the same browser, sharing IndexedDB and Web Locks
    const context = await b.newContext()
    const closeAll = async (): Promise<void> => {
      await b.close().catch(() => {})
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
    const open = async (close: (page: Page) => Promise<void>): Promise<BrowserPage> => {
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', err => errors.push(err.message))
      await page.goto(`http://127.0.0.1:${port}/`)
      await page.waitForFunction(() => (globalThis as { __ready?: boolean }).__ready === true, undefined, { timeout: 30_000 })
        .catch(err => { throw new Error(`the entry did not load in the browser${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`, { cause: err }) })
      return {
        page,
        call: async <T>(name: string, ...args: unknown[]): Promise<T> => await page.evaluate(
          async ([n, a]) => await (globalThis as unknown as { __exports: Record<string, (...x: unknown[]) => unknown> }).__exports[n as string](...(a as unknown[])),
          [name, args] as const
        ) as T,
        another: async () => await open(async p => { await p.close().catch(() => {}) }),
        close: async () => await close(page)
      }
    }
    return await open(closeAll)
  } catch (err) {
    await browser?.close().catch(() => {})
    await new Promise<void>(resolve => server.close(() => resolve()))
    throw err
  }
}
