// Assembly of the libp2p 3 host a fabric node runs on: TCP (writes coalesced
// per turn, tcp-writes.ts) and WebSockets,
// noise (ChaCha20-Poly1305 keyed once per session, noise-crypto.ts), yamux,
// identify, ping, gossipsub, and circuit relay (client always, server on
// rendezvous nodes).
import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { fabricServices } from './host-services.ts'
import { nodeNoiseCrypto } from './noise-crypto.ts'
import { coalescingTcp } from './tcp-writes.ts'

/** The libp2p services every fabric node runs. */
export type HostServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  relay?: unknown
}

/** A fabric node's libp2p host. */
export type Host = Libp2p<HostServices>

/** Options for {@link createHost}. */
export interface HostInit {
  privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0` and `/ip4/127.0.0.1/tcp/0/ws`. */
  listen: string[]
  /** Serve circuit relay v2 (rendezvous nodes do, for browsers and NATed peers). */
  relayServer?: boolean
  /**
   * Exempt loopback peers from the per-host inbound connection rate limit.
   * Only for local fabrics, where every node shares 127.0.0.1 (DESIGN.md §8).
   */
  allowLoopback?: boolean
}

/** Build (but do not start) the libp2p host of a fabric node. */
export async function createHost (init: HostInit): Promise<Host> {
  const services = fabricServices()
  if (init.relayServer === true) {
    services.relay = circuitRelayServer({ reservations: { maxReservations: 1024 } })
  }
  return await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [coalescingTcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise({ crypto: nodeNoiseCrypto })],
    streamMuxers: [yamux()],
    connectionManager: init.allowLoopback === true
      ? { allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] }
      : {},
    services: services as never
  }) as unknown as Host
}
