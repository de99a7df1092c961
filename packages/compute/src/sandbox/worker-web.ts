// Entry of a sandbox domain in a browser: a Web Worker (module type) that
// serves RunRequests from the page with DomainCore — the same code the Node
// worker thread runs. Its first message hands it the shared control block.
import { DomainCore, DomainPort, type RunBatch, type RunRequest } from './domain-core.ts'

const scope = globalThis as unknown as {
  postMessage: (msg: unknown, transfer?: Transferable[]) => void
  addEventListener: (type: 'message', fn: (e: MessageEvent) => void) => void
}
let core: DomainCore | undefined
// outputs that own their whole buffer are handed over without a copy
const domain = new DomainPort((msg, transfer) => scope.postMessage(msg, transfer.length > 0 ? transfer : undefined))

scope.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as { type?: string, control?: SharedArrayBuffer } | RunRequest | RunBatch
  if (m?.type === 'init' && core == null && (m as { control?: unknown }).control instanceof SharedArrayBuffer) {
    core = new DomainCore(new Int32Array((m as { control: SharedArrayBuffer }).control), domain.send, () => performance.now())
    scope.postMessage({ type: 'ready' })
    return
  }
  // one execution at a time, in order: the page queues, but be safe against a burst
  if (core != null) domain.receive(core, m as RunRequest | RunBatch)
})
