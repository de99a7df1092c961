// TCP with one socket write per turn of the event loop instead of one per
// buffer. libp2p's TCP connection writes every buffer it is handed with its
// own `socket.write`, and noise hands it two per message (the 2-byte length,
// then the ciphertext), one message per yamux frame: a batch of compute
// results left a worker as ~4 system calls per result, each of which also
// woke the receiving process for a segment of its own. Here a connection's
// socket is corked at its first write of a turn and uncorked when the turn's
// synchronous work and microtasks are done (process.nextTick), so everything
// written in between leaves in one writev. The bytes, their order and the
// back-pressure signals (write's return value, 'drain') are Node's own.
import type { Socket } from 'node:net'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import { type TCPComponents, type TCPOptions, tcp } from '@libp2p/tcp'

/** The part of libp2p's TCP connection this touches: its socket and the method that writes to it. */
interface SocketConnection {
  socket?: Socket
  sendData?: (data: unknown) => unknown
}

/** Make `maConn` cork its socket for the rest of the turn at each turn's first write (TCP connections only). */
export function coalesceWrites<T extends MultiaddrConnection> (maConn: T): T {
  const c = maConn as unknown as SocketConnection
  const socket = c.socket
  const send = c.sendData
  if (socket == null || typeof socket.cork !== 'function' || typeof send !== 'function') return maConn
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  c.sendData = function (this: unknown, data: unknown) {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    return send.call(this, data)
  }
  return maConn
}

/** The upgrader a transport is handed, with each raw connection set to coalesce its writes before it is upgraded. */
function coalescingUpgrader (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') {
        return async (maConn: MultiaddrConnection, opts: never) => await target[prop](coalesceWrites(maConn), opts)
      }
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}

/** libp2p's TCP transport, whose connections write once per turn of the event loop (see above). */
export function coalescingTcp (init?: TCPOptions): (components: TCPComponents) => Transport {
  const make = tcp(init)
  return components => {
    const transport = make(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options) => await dial(ma, { ...options, upgrader: coalescingUpgrader(options.upgrader) })
    transport.createListener = options => createListener({ ...options, upgrader: coalescingUpgrader(options.upgrader) })
    return transport
  }
}
