// Raw streams for bad-input tests: put arbitrary bytes on a protocol of a
// real node, and find the connection a test stream rode on.
import type { Connection, Stream } from '@libp2p/interface'
import type { FabricNode } from '@webfabric/runtime'
import { sleep } from './fixtures.ts'

const carriers = new WeakMap<Stream, Connection>()

/** The connection a test stream was opened on (it may since have closed). */
export function connectionOf (node: FabricNode, stream: Stream): Connection {
  const c = carriers.get(stream) ?? node.host.getConnections().find(conn => conn.streams.includes(stream))
  if (c == null) throw new Error('stream has no connection')
  return c
}

/** One unsigned-varint length-prefixed frame. */
export function lengthPrefixed (body: Uint8Array): Uint8Array {
  const prefix: number[] = []
  let n = body.length
  while (n >= 0x80) { prefix.push((n & 0x7f) | 0x80); n >>>= 7 }
  prefix.push(n)
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}

/**
 * Open a stream and put raw bytes on it. On a loaded machine a fresh stream is
 * now and then closed before we write; that is the environment, not the
 * behaviour under test, so open another.
 */
export async function sendRaw (from: FabricNode, to: FabricNode, protocol: string, bytes: Uint8Array): Promise<Stream> {
  let last: unknown
  for (let i = 0; i < 10; i++) {
    const stream = await openStream(from, to, protocol)
    try {
      stream.send(bytes)
      return stream
    } catch (err) {
      last = err
      await sleep(100)
    }
  }
  throw last
}

/** Open a stream, redialling while a previous disconnection is still being torn down. */
export async function openStream (from: FabricNode, to: FabricNode, protocol: string): Promise<Stream> {
  let last: unknown
  for (let i = 0; i < 20; i++) {
    try {
      const stream = await from.host.dialProtocol(to.host.getMultiaddrs(), protocol)
      const conn = from.host.getConnections(to.host.peerId).find(c => c.streams.includes(stream))
      if (conn != null) carriers.set(stream, conn)
      return stream
    } catch (err) {
      // a connection the other side just closed can linger here as "open"; drop it and redial
      last = err
      await from.host.hangUp(to.host.peerId).catch(() => {})
      await sleep(100)
    }
  }
  throw last
}
