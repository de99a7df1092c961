// The libp2p host of a browser tab: WebSockets to the rendezvous, circuit
// relay through it, WebRTC between tabs (signalled through the relay), noise,
// yamux, identify, ping and gossipsub configured as on Node (host.ts). A tab
// cannot listen on a socket: Node peers reach it on the connections it opened,
// other tabs over WebRTC, and the relay carries the rest.
import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { PrivateKey } from '@libp2p/interface'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { fabricServices } from '../host-services.ts'
import type { Host } from '../host.ts'

/** Options of createTabHost. */
export interface TabHostInit {
  privateKey: PrivateKey
  /**
   * Let the tab dial plain ws:// and private addresses (a local fabric on 127.0.0.1). The browser
   * build refuses both by default; keep this to development and tests (DESIGN.md §8).
   */
  allowInsecureDials?: boolean
  /**
   * ICE servers for WebRTC between tabs (default none: tabs on one network, or behind the same
   * NAT, connect on host candidates; a public deployment passes its STUN/TURN servers here).
   */
  iceServers?: RTCIceServer[]
}

/** Builds (does not start) a tab's libp2p host. */
export async function createTabHost (init: TabHostInit): Promise<Host> {
  return await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    // never a public STUN server unless the origin names one (DESIGN.md §8)
    transports: [webSockets(), circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers: init.iceServers ?? [] } })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(init.allowInsecureDials === true ? { connectionGater: { denyDialMultiaddr: async () => false } } : {}),
    services: fabricServices() as never
  }) as unknown as Host
}
