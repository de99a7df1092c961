// Running code in a real browser from a node:test: bundle a TypeScript entry
// with esbuild, serve it from 127.0.0.1 (a secure context, so WebCrypto and
// IndexedDB behave as on a real origin), open it in Debian's Chromium through
// playwright-core, and call the function the entry exports.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM_ARGS, ensureChromium } from './chromium.ts'

/** A page with a bundled entry loaded; `call(name, ...args)` runs one of its exports in the page. */
export interface BrowserPage {
  page: Page
  call: <T = unknown>(name: string, ...args: unknown[]) => Promise<T>
  close: () => Promise<void>
}

const HTML = '<!doctype html><meta charset="utf-8"><title>webfabric test</title><script type="module" src="/entry.js"></script>'

/**
 * Bundles `entry` (its exports become `globalThis.__exports` in the page), serves it and opens it in
 * Chromium. Close it when done: it owns the browser and the server.
 */
export async function openInBrowser (entry: string): Promise<BrowserPage> {
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
  const server: Server = createServer((req, res) => {
    if (req.url === '/entry.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js)
    else if (req.url === '/' || req.url === '/index.html') res.writeHead(200, { 'content-type': 'text/html' }).end(HTML)
    else res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  let browser: Browser | undefined
  try {
    browser = await chromium.launch({ executablePath: process.env.WEBFABRIC_CHROMIUM ?? ensureChromium(), args: CHROMIUM_ARGS, headless: true })
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', err => errors.push(err.message))
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForFunction(() => (globalThis as { __ready?: boolean }).__ready === true, undefined, { timeout: 30_000 })
      .catch(err => { throw new Error(`the entry did not load in the browser${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`, { cause: err }) })
    const b = browser
    return {
      page,
      call: async <T>(name: string, ...args: unknown[]): Promise<T> => await page.evaluate(
        async ([n, a]) => await (globalThis as unknown as { __exports: Record<string, (...x: unknown[]) => unknown> }).__exports[n as string](...(a as unknown[])),
        [name, args] as const
      ) as T,
      close: async () => {
        await b.close().catch(() => {})
        await new Promise<void>(resolve => server.close(() => resolve()))
      }
    }
  } catch (err) {
    await browser?.close().catch(() => {})
    await new Promise<void>(resolve => server.close(() => resolve()))
    throw err
  }
}
