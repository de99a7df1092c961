// Entry of a sandbox domain in Node: a worker thread that serves RunRequests
// from its parent with DomainCore. It holds nothing but what the parent sends.
import { parentPort, workerData } from 'node:worker_threads'
import { DomainCore, DomainPort, type RunBatch, type RunRequest } from './domain-core.ts'

const port = parentPort
if (port == null) throw new Error('worker-node.ts runs only as a worker thread')
const control = new Int32Array((workerData as { control: SharedArrayBuffer }).control)
// outputs that own their whole buffer are handed over without a copy
const domain = new DomainPort((msg, transfer) => port.postMessage(msg, transfer.length > 0 ? transfer : undefined))
const core = new DomainCore(control, domain.send, () => performance.now())

// one execution at a time, in order: the parent queues, but be safe against a burst
port.on('message', (m: RunRequest | RunBatch) => domain.receive(core, m))
port.postMessage({ type: 'ready' })
