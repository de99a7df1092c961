// A crypto worker thread (see offload.ts): seals, opens and hashes the chunks
// it is sent, and sends the results back by transfer. A job that fails
// answers with its message; the worker itself never stops on one.
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import { openNow, sealNow } from './aes-gcm.ts'
import { type OffloadJob, ownBuffer } from './offload.ts'

/** The digest in a buffer of its own (node:crypto's may lie in its shared pool). */
function sha256 (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const d = createHash('sha256').update(bytes).digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice()
}

parentPort!.on('message', (m: OffloadJob & { id: number }) => {
  try {
    if (m.op === 'sha256') {
      const digest = sha256(m.bytes)
      parentPort!.postMessage({ id: m.id, bytes: m.bytes, digest }, [m.bytes.buffer, digest.buffer])
      return
    }
    const bytes = ownBuffer(m.op === 'seal' ? sealNow(m.key, m.iv, m.plain) : openNow(m.key, m.iv, m.cipher), true)
    // the input goes back too, as a spare for the main thread's next copy of its size
    const spare = (m.op === 'seal' ? m.plain : m.cipher).buffer
    const digest = m.op === 'seal' && m.digest === true ? sha256(bytes) : undefined
    parentPort!.postMessage({ id: m.id, bytes, digest, spare }, digest == null ? [bytes.buffer, spare] : [bytes.buffer, digest.buffer, spare])
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) })
  }
})
