// WebSandboxDomain in a browser: a domain's worker is a module Web Worker
// running worker-web.ts (bundle it and pass its URL). The page must be
// cross-origin isolated (COOP same-origin + COEP require-corp) so the control
// block can be a SharedArrayBuffer; fuel slices then hold the lease's CPU
// share and bound how long a pause or abort waits, as on Node.
import { type DomainSpawner, type SandboxInit, SandboxDomainBase, type SandboxPoolInit, SandboxPoolBase } from './domain-base.ts'

/** Options of browser domains: where the bundled worker-web.ts is served. */
export interface WebSandboxInit extends SandboxInit {
  workerUrl: string | URL
}

/** Thrown when the page is not cross-origin isolated (no SharedArrayBuffer). */
export class NotIsolatedError extends Error {
  static name = 'NotIsolatedError'
  constructor (message = 'sandbox domains need a cross-origin isolated page (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)', options?: ErrorOptions) {
    super(message, options)
    this.name = 'NotIsolatedError'
  }
}

/** Module Web Workers for domains. */
export function webSpawner (workerUrl: string | URL): DomainSpawner {
  return (control, _init, on) => {
    const worker = new Worker(workerUrl, { type: 'module', name: 'webfabric-sandbox' })
    worker.addEventListener('message', e => on.message(e.data))
    worker.addEventListener('error', e => { e.preventDefault(); on.error(new Error(e.message || 'the sandbox worker failed')) })
    worker.addEventListener('messageerror', () => on.error(new Error('the sandbox worker sent a message that could not be read')))
    worker.postMessage({ type: 'init', control })
    return { postMessage: req => worker.postMessage(req), terminate: () => { worker.terminate(); on.exit() } }
  }
}

function isolated (): void {
  if (typeof SharedArrayBuffer === 'undefined' || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) throw new NotIsolatedError()
}

/** A sandbox domain on a Web Worker; runs one execution at a time. */
export class WebSandboxDomain extends SandboxDomainBase {
  constructor (init: WebSandboxInit) { isolated(); super(init, webSpawner(init.workerUrl)) }
}

/** A pool of Web Worker domains with a FIFO queue. */
export class WebSandboxPool extends SandboxPoolBase {
  constructor (init: WebSandboxInit & SandboxPoolInit) { isolated(); super(init, webSpawner(init.workerUrl)) }
}
