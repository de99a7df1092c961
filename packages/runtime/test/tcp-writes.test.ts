// TCP connections write once per turn: the buffers a connection is handed in one turn of the event
// loop leave corked and go out together when the turn ends — every byte, in order, and the socket's
// back-pressure signal still reaches the caller.
import assert from 'node:assert/strict'
import { type AddressInfo, type Socket, connect, createServer } from 'node:net'
import { describe, it } from 'node:test'
import type { MultiaddrConnection } from '@libp2p/interface'
import { coalesceWrites } from '../src/tcp-writes.ts'

/** The shape of libp2p's TCP connection that coalesceWrites touches: a socket, and a sendData that writes each buffer. */
function fakeConnection (socket: Socket): { socket: Socket, sendData: (data: Uint8Array[]) => { sentBytes: number, canSendMore: boolean } } {
  return {
    socket,
    sendData (data) {
      let sentBytes = 0
      let canSendMore = true
      for (const b of data) {
        sentBytes += b.byteLength
        canSendMore = socket.write(b)
      }
      return { sentBytes, canSendMore }
    }
  }
}

async function socketPair (): Promise<{ client: Socket, received: () => Promise<Buffer>, close: () => Promise<void> }> {
  const chunks: Buffer[] = []
  let ended!: () => void
  const done = new Promise<void>(resolve => { ended = resolve })
  const server = createServer(s => {
    s.on('data', c => chunks.push(c))
    s.on('end', () => { s.end(); ended() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
  await new Promise<void>(resolve => client.once('connect', resolve))
  return {
    client,
    received: async () => { client.end(); await done; return Buffer.concat(chunks) },
    close: async () => { client.destroy(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

describe('coalesced TCP writes', () => {
  it('corks a connection for the rest of the turn at its first write, and delivers every byte in order', async () => {
    const { client, received, close } = await socketPair()
    try {
      const conn = coalesceWrites(fakeConnection(client) as unknown as MultiaddrConnection) as unknown as ReturnType<typeof fakeConnection>
      const sent: number[] = []
      let next = 0
      const burst = (): void => {
        for (let i = 0; i < 50; i++) {
          // as noise hands it over: a length, then the message
          const bytes = Array.from({ length: 1 + (i % 7) }, () => next++ & 0xff)
          sent.push(bytes.length, ...bytes)
          conn.sendData([Uint8Array.of(bytes.length), Uint8Array.from(bytes)])
        }
      }
      burst()
      assert.equal(client.writableCorked, 1, 'corked until the turn ends')
      await new Promise(resolve => process.nextTick(resolve))
      assert.equal(client.writableCorked, 0, 'uncorked when the turn ends')
      // a later turn corks again, once
      burst()
      assert.equal(client.writableCorked, 1)
      await new Promise(resolve => setImmediate(resolve))
      assert.equal(client.writableCorked, 0)
      assert.deepEqual([...await received()], sent)
    } finally {
      await close()
    }
  })

  it('still reports a full socket to the caller (write returns false past the high-water mark)', async () => {
    const { client, received, close } = await socketPair()
    try {
      const conn = coalesceWrites(fakeConnection(client) as unknown as MultiaddrConnection) as unknown as ReturnType<typeof fakeConnection>
      const big = new Uint8Array(client.writableHighWaterMark + 1).fill(7)
      assert.equal(conn.sendData([big]).canSendMore, false)
      await new Promise(resolve => client.once('drain', resolve))
      assert.equal((await received()).byteLength, big.byteLength)
    } finally {
      await close()
    }
  })

  it('leaves a connection without a socket (not TCP) as it is', () => {
    const conn = { sendData: () => ({ sentBytes: 0, canSendMore: true }) }
    const send = conn.sendData
    assert.equal(coalesceWrites(conn as unknown as MultiaddrConnection), conn)
    assert.equal(conn.sendData, send)
  })
})
