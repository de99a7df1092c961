// Entry of a sandbox domain in Node: a worker thread that serves RunRequests
// from its parent with DomainCore. It holds nothing but what the parent sends.
import { parentPort, workerData } from 'node:worker_threads'
import { DomainCore, type DomainMessage, type RunRequest } from './domain-core.ts'

const port = parentPort
if (port == null) throw new Error('worker-node.ts runs only as a worker thread')
const control = new Int32Array((workerData as { control: SharedArrayBuffer }).control)
const core = new DomainCore(control, (msg: DomainMessage) => {
  // hand the output over without a copy when it owns its whole buffer
  const out = msg.type === 'done' ? msg.execution.output : undefined
  const whole = out != null && out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer
  port.postMessage(msg, whole ? [out.buffer as ArrayBuffer] : undefined)
}, () => performance.now())

// one execution at a time: the parent queues, but be safe against a burst
let chain: Promise<void> = Promise.resolve()
port.on('message', (req: RunRequest) => {
  if (req?.type !== 'run') return
  chain = chain.then(async () => { await core.handle(req) })
})
port.postMessage({ type: 'ready' })
