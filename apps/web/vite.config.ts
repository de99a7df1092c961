// Vite configuration of the web app: one index.html whose script routes on
// the path (`/` participant page, `/dashboard` dashboard), module Web Workers
// for the sandbox, libp2p bundled for browsers, and the cross-origin
// isolation the sandbox needs (SharedArrayBuffer) in dev and preview too.
// build.ts builds with webConfig() directly, without loading this file.
import { fileURLToPath } from 'node:url'
import { type UserConfig, defineConfig } from 'vite'

/** The app's folder (Vite's root), wherever Vite or Node runs from. */
export const WEB_ROOT = fileURLToPath(new URL('.', import.meta.url))

/** The headers that make the page cross-origin isolated (what the node's web gateway sends too). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp'
}

/** The app's Vite configuration; `outDir` defaults to apps/web/dist. */
export function webConfig (opts: { outDir?: string } = {}): UserConfig {
  return {
    root: WEB_ROOT,
    base: '/',
    appType: 'spa',
    publicDir: false,
    clearScreen: false,
    resolve: {
      // libp2p, its transports and our packages (@webfabric/compute) pick their browser builds by
      // these conditions (Vite's client defaults, said out loud: the build must never take a Node entry)
      conditions: ['browser', 'module', 'development|production'],
      mainFields: ['browser', 'module', 'jsnext:main', 'jsnext']
    },
    build: {
      outDir: opts.outDir ?? 'dist',
      emptyOutDir: true,
      target: 'es2022',
      // nothing inline: the gateway's CSP allows scripts, styles and workers from 'self' only
      assetsInlineLimit: 0,
      chunkSizeWarningLimit: 4096,
      sourcemap: false,
      reportCompressedSize: false
    },
    worker: { format: 'es' },
    server: {
      headers: ISOLATION_HEADERS,
      // `WEBFABRIC_NODE=http://127.0.0.1:PORT npx vite apps/web`: the manifest and enrolment come
      // from a running node's web gateway (the URL `webfabric up --web` prints)
      proxy: process.env.WEBFABRIC_NODE != null && process.env.WEBFABRIC_NODE !== ''
        ? { '/fabric': { target: process.env.WEBFABRIC_NODE, changeOrigin: true } }
        : undefined
    },
    preview: { headers: ISOLATION_HEADERS }
  }
}

export default defineConfig(webConfig())
