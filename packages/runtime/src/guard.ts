// Protocol guard: every inbound stream on a protocol the node speaks is checked
// frame by frame before its handler sees the bytes. Oversized, malformed or
// truncated frames abort the stream and disconnect the peer; everyone else is
// served as before. Our own protocols validate fully in their handlers; this
// guard covers the libp2p protocols we run (gossipsub, identify push, circuit
// relay, ping), whose handlers otherwise ignore garbage and keep the peer.
//
// How: libp2p 3 stream middleware (`libp2p.use`) wraps the stream's `onData`
// (the @libp2p/utils AbstractMessageStream hook the muxer calls with each
// chunk), so checked bytes flow on unchanged and bad ones never reach the handler.
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { RPC } from '@libp2p/gossipsub/message'
import type { Host } from './host.ts'

/** How to check one protocol's inbound bytes. */
export interface GuardRule {
  protocols: string[]
  /** 'lp': unsigned-varint length-prefixed frames; 'fixed': raw units of `unit` bytes */
  framing: 'lp' | 'fixed'
  maxFrame: number
  unit?: number
  /** throw when a complete frame is malformed */
  check?: (frame: Uint8Array) => void
  /** stop checking after this many frames (relay streams turn into raw pipes) */
  frames?: number
}

/** A refused stream, for logs and tests. */
export interface Violation { protocol: string, peer: string, reason: string }

/** Rules for the libp2p protocols a fabric node serves. */
export function defaultGuardRules (maxPubsubFrame: number): GuardRule[] {
  return [
    { protocols: ['/meshsub/1.0.0', '/meshsub/1.1.0', '/meshsub/1.2.0', '/floodsub/1.0.0'], framing: 'lp', maxFrame: maxPubsubFrame, check: f => { RPC.decode(f) } },
    { protocols: ['/ipfs/id/push/1.0.0', '/ipfs/id/1.0.0'], framing: 'lp', maxFrame: 8192, check: checkProtobuf },
    { protocols: ['/libp2p/circuit/relay/0.2.0/hop', '/libp2p/circuit/relay/0.2.0/stop'], framing: 'lp', maxFrame: 4096, check: checkProtobuf, frames: 1 },
    { protocols: ['/ipfs/ping/1.0.0'], framing: 'fixed', unit: 32, maxFrame: 32 }
  ]
}

/** Install the guard on a host; `onViolation` hears about every refused stream. */
export function installProtocolGuards (host: Host, rules: GuardRule[], onViolation: (v: Violation) => void): void {
  copyMiddlewareLists(host)
  for (const rule of rules) {
    for (const protocol of rule.protocols) {
      host.use(protocol, (stream, connection, next) => {
        guardStream(stream, connection, protocol, rule, reason => {
          onViolation({ protocol, peer: connection.remotePeer.toString(), reason })
          disconnect(host, connection.remotePeer, new Error(`${protocol}: ${reason}`))
        })
        next(stream, connection)
      })
    }
  }
}

/**
 * Cut a misbehaving peer off at once: abort (not gracefully close) every
 * connection to it, so nothing it still has in flight is processed.
 */
export function disconnect (host: Host, peer: PeerId, reason: Error): void {
  for (const conn of host.getConnections(peer)) conn.abort(reason)
}

/**
 * Work around a libp2p 3.3 bug: Connection.onIncomingStream appends the
 * protocol handler to the array `registrar.getMiddleware()` returns, which is
 * the registrar's stored array once any middleware is registered — so handlers
 * pile up and run again on later inbound and outbound streams. Handing out a
 * copy keeps the stored list as registered.
 */
function copyMiddlewareLists (host: Host): void {
  const registrar = (host as unknown as { components?: { registrar?: { getMiddleware?: (p: string) => unknown[], __copied?: boolean } } }).components?.registrar
  if (registrar?.getMiddleware == null || registrar.__copied === true) return
  const original = registrar.getMiddleware.bind(registrar)
  registrar.getMiddleware = protocol => [...original(protocol)]
  registrar.__copied = true
}

function guardStream (stream: Stream, _conn: Connection, protocol: string, rule: GuardRule, fail: (reason: string) => void): void {
  const s = stream as Stream & { onData?: (data: Uint8Array | { subarray: () => Uint8Array }) => void }
  if (typeof s.onData !== 'function') return
  const forward = s.onData.bind(s)
  let pending: Uint8Array = new Uint8Array(0)
  let checked = 0
  let done = false
  const refuse = (reason: string): void => {
    if (done) return
    done = true
    stream.abort(new Error(`${protocol}: ${reason}`))
    fail(reason)
  }
  s.onData = data => {
    if (done) return
    if (rule.frames != null && checked >= rule.frames) { forward(data); return }
    const chunk = data instanceof Uint8Array ? data : data.subarray()
    pending = pending.length === 0 ? chunk : concat(pending, chunk)
    try {
      for (;;) {
        if (rule.frames != null && checked >= rule.frames) { pending = new Uint8Array(0); break }
        const n = rule.framing === 'fixed' ? nextFixed(pending, rule.unit ?? 1) : nextFrame(pending, rule.maxFrame, rule.check)
        if (n === 0) break
        pending = pending.subarray(n)
        checked++
      }
    } catch (err) {
      refuse((err as Error).message)
      return
    }
    forward(data)
  }
  // a stream that ends inside a frame was truncated
  stream.addEventListener('remoteCloseWrite', () => {
    if (pending.length > 0 && !(rule.frames != null && checked >= rule.frames)) refuse(`truncated frame (${pending.length} bytes left over)`)
  })
}

/** Bytes of the next complete length-prefixed frame (prefix included), 0 if incomplete. */
function nextFrame (buf: Uint8Array, max: number, check?: (frame: Uint8Array) => void): number {
  let len = 0
  let shift = 0
  let i = 0
  for (;; i++) {
    if (i >= buf.length) return 0
    if (i >= 5) throw new Error('length prefix too long')
    const b = buf[i]
    len += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0) break
  }
  if (len > max) throw new Error(`frame of ${len} bytes exceeds the ${max}-byte limit`)
  const end = i + 1 + len
  if (buf.length < end) return 0
  if (check != null) {
    try {
      check(buf.subarray(i + 1, end))
    } catch (err) {
      throw new Error(`malformed frame: ${(err as Error).message}`)
    }
  }
  return end
}

function nextFixed (buf: Uint8Array, unit: number): number {
  return buf.length >= unit ? unit : 0
}

/**
 * Throw unless `buf` is a well-formed protobuf message on the wire: valid tags
 * and wire types (0, 1, 2, 5; no groups), in-bounds lengths, nothing left over.
 */
export function checkProtobuf (buf: Uint8Array): void {
  let i = 0
  const varint = (): number => {
    let v = 0
    for (let k = 0; k < 10; k++) {
      if (i >= buf.length) throw new Error('truncated varint')
      const b = buf[i++]
      if (k < 7) v += (b & 0x7f) * 2 ** (7 * k)
      if ((b & 0x80) === 0) return v
    }
    throw new Error('varint too long')
  }
  while (i < buf.length) {
    const tag = varint()
    if (tag >>> 3 === 0) throw new Error('field number 0')
    switch (tag & 7) {
      case 0: varint(); break
      case 1: i += 8; break
      case 2: { const n = varint(); i += n; break }
      case 5: i += 4; break
      default: throw new Error(`wire type ${tag & 7}`)
    }
    if (i > buf.length) throw new Error('field runs past the end')
  }
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
