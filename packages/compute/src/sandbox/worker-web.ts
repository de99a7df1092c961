// Entry of a sandbox domain in a browser: a Web Worker (module type) that
// serves RunRequests from the page with DomainCore — the same code the Node
// worker thread runs. Its first message hands it the shared control block.
import { DomainCore, type DomainMessage, type RunRequest } from './domain-core.ts'

const scope = globalThis as unknown as {
  postMessage: (msg: unknown, transfer?: Transferable[]) => void
  addEventListener: (type: 'message', fn: (e: MessageEvent) => void) => void
}
let core: DomainCore | undefined
let chain: Promise<void> = Promise.resolve()

scope.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as { type?: string, control?: SharedArrayBuffer } | RunRequest
  if (m?.type === 'init' && core == null && (m as { control?: unknown }).control instanceof SharedArrayBuffer) {
    core = new DomainCore(new Int32Array((m as { control: SharedArrayBuffer }).control), (msg: DomainMessage) => {
      const out = msg.type === 'done' ? msg.execution.output : undefined
      const whole = out != null && out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer
      scope.postMessage(msg, whole ? [out.buffer as ArrayBuffer] : undefined)
    }, () => performance.now())
    scope.postMessage({ type: 'ready' })
    return
  }
  if (m?.type !== 'run' || core == null) return
  // one execution at a time: the page queues, but be safe against a burst
  const c = core
  chain = chain.then(async () => { await c.handle(m as RunRequest) })
})
