// Capability-guarded pub-sub (Wetware's pub-sub service) on gossipsub.
//
// Every message travels in an envelope { i: capability id, c?: capability, d: data }.
// gossipsub's StrictSign binds a message to its author's peer key; the topic
// validator then checks, on every node that sees the message, that the author
// holds a capability from the origin to publish on that topic. Anything else
// is rejected (and counts against the forwarding peer's gossipsub score).
//
// The capability travels by reference: `i` is the CID (bytes) of the author's
// capability, and the capability itself (`c`) rides along only when the author
// has reason to think a receiver lacks it: its first message on a topic with
// that capability, the first after a peer subscribed to the topic, and one
// every CAP_RESEND_MS. A validator that meets a reference it does not hold
// fetches the bytes over PUBSUB_CAP_PROTOCOL from the peer that forwarded the
// message (which validated it, so it holds them) or from the author. However
// the bytes arrive, they are verified for this author and topic on every
// message (cached verdicts; expiry and revocations rechecked on each use), and
// a message whose capability cannot be obtained and verified is never delivered.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { MissingAbilityError, bytesEqual, decode, decodeCapability, encode } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import { FRAME_TIMEOUT_MS, MAX_CAPABILITY_BYTES, MAX_PUBSUB_MESSAGE } from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { InvalidTopicError, MessageTooLargeError } from './errors.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import { isTransportFailure } from './stream-errors.ts'

/** Abilities of the pub-sub service. */
export const PUBLISH = 'pubsub/publish'
export const SUBSCRIBE = 'pubsub/subscribe'

/** The capability resource naming a topic. */
export const topicResource = (topic: string): string => `topic/${topic}`

/**
 * Fetch of an author's publish capability by reference. One request per stream:
 * `{ a: author peer id, c: the requester's subscribe capability on t, i: capability CID bytes, t: topic }`,
 * answered with `{ c: capability }` or `{}` when the responder holds none for that author and topic.
 */
export const PUBSUB_CAP_PROTOCOL = '/webfabric/pubsub-cap/1.0.0'

/** Largest capability request (the requester's own capability plus a few short fields). */
export const MAX_CAP_REQUEST = MAX_CAPABILITY_BYTES + 1024

/** Largest capability response. */
export const MAX_CAP_RESPONSE = MAX_CAPABILITY_BYTES + 64

/** An author attaches its capability to at least one message this often (ms), besides after new subscriptions. */
export const CAP_RESEND_MS = 10_000

/** Capabilities held by reference: (author, topic, id) entries, least recently used evicted. */
const MAX_KNOWN_CAPS = 4096
/** Longest capability reference (a CIDv1 sha2-256 is 36 bytes). */
const MAX_CAP_ID_BYTES = 64
/** Concurrent fetches asked of one peer; beyond them a reference counts as unobtainable. */
const MAX_FETCHES_PER_PEER = 16
/** A reference no peer could supply is not asked for again this long (ms). */
const MISSING_TTL_MS = 10_000

const TOPIC_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$/

/** A message delivered to a subscriber. */
export interface PubSubMessage {
  topic: string
  data: Uint8Array
  /** peer id of the author (not of the peer that forwarded it) */
  from: string
}

/** Options of {@link PubSubService}. */
export interface PubSubServiceInit {
  origin: string
  /** the fabric's topic prefix, from `topicPrefix(origin)` */
  prefix: string
  verifier: CredentialVerifier
  /** Capabilities this node holds (encoded), searched for one that grants a publish/subscribe. */
  grants: Uint8Array[]
  log?: (msg: string) => void
}

/** Events: `message` (CustomEvent<PubSubMessage>). */
export class PubSubService extends EventTarget {
  private readonly host: Host
  private readonly init: PubSubServiceInit
  private readonly prefix: string
  private readonly subscribed = new Set<string>()
  /** messages refused by topic validators on this node (proven unauthorised or malformed) */
  rejected = 0
  /** messages dropped because their capability could not be obtained (never delivered, forwarder not penalised) */
  unverified = 0
  /** capabilities fetched by reference from other peers */
  capsFetched = 0
  /** capability requests this node answered */
  capsServed = 0
  /** (author, topic, id) → capability bytes that verified for that author and topic */
  private readonly known = new BoundedMap<string, Uint8Array>(MAX_KNOWN_CAPS)
  /** (author, topic, id) → the capability being obtained (carried bytes under check, or a fetch) */
  private readonly inflight = new Map<string, Promise<Uint8Array | undefined>>()
  /** (author, topic, id) → until when not to ask again */
  private readonly missing = new BoundedMap<string, number>(MAX_KNOWN_CAPS)
  private readonly fetchesTo = new Map<string, number>()
  /** per topic: which capability this node last attached to a message it published, and when */
  private readonly attached = new Map<string, { id: string, at: number }>()
  /** topics a peer subscribed to since this node last attached its capability there */
  private readonly newSubscribers = new Set<string>()
  private readonly idBytes = new BoundedMap<string, Uint8Array>(64)
  /** payloads of messages that passed the validator, so delivery does not decode them again */
  private readonly payloads = new WeakMap<Message, Uint8Array>()

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (!msg.topic.startsWith(this.prefix) || msg.type !== 'signed') return
    const topic = msg.topic.slice(this.prefix.length)
    if (!this.subscribed.has(topic)) return
    const data = this.payloads.get(msg) ?? decodeEnvelope(msg.data).d
    this.dispatchEvent(new CustomEvent('message', { detail: { topic, data, from: msg.from.toString() } }))
  }

  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    for (const s of evt.detail.subscriptions) {
      if (!s.subscribe || !s.topic.startsWith(this.prefix)) continue
      // only topics this node publishes on: the set stays as small as that
      const topic = s.topic.slice(this.prefix.length)
      if (this.attached.has(topic)) this.newSubscribers.add(topic)
    }
  }

  constructor (host: Host, init: PubSubServiceInit) {
    super()
    this.host = host
    this.init = init
    this.prefix = `${init.prefix}ps/`
  }

  start (): void {
    this.host.services.pubsub.addEventListener('message', this.onMessage)
    this.host.services.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    // registrar.handle stores the handler before it awaits the peer store update
    this.host.handle(PUBSUB_CAP_PROTOCOL, (stream, conn) => { void this.onCapRequest(stream, conn) }, { maxInboundStreams: 32 })
      .catch(err => { this.init.log?.(`cannot serve ${PUBSUB_CAP_PROTOCOL}: ${(err as Error).message}`) })
  }

  stop (): void {
    this.host.services.pubsub.removeEventListener('message', this.onMessage)
    this.host.services.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    for (const t of this.subscribed) this.unsubscribe(t)
    this.host.unhandle(PUBSUB_CAP_PROTOCOL).catch(() => {})
  }

  /** Subscribe to a topic this node holds a subscribe capability for. */
  async subscribe (topic: string): Promise<void> {
    checkTopic(topic)
    await this.grantFor(topic, SUBSCRIBE)
    if (this.subscribed.has(topic)) return
    const full = this.prefix + topic
    this.host.services.pubsub.topicValidators.set(full, async (source, msg) => await this.validate(topic, source, msg))
    this.subscribed.add(topic)
    this.host.services.pubsub.subscribe(full)
  }

  unsubscribe (topic: string): void {
    if (!this.subscribed.delete(topic)) return
    const full = this.prefix + topic
    this.host.services.pubsub.unsubscribe(full)
    this.host.services.pubsub.topicValidators.delete(full)
  }

  /** The gossipsub topic string that carries `topic`. */
  gossipTopic (topic: string): string {
    return this.prefix + topic
  }

  /** Topics this node is subscribed to. */
  topics (): string[] {
    return [...this.subscribed]
  }

  /**
   * Publish on a topic. Throws MissingAbilityError when this node holds no
   * capability to publish there (remote validators would reject it anyway).
   */
  async publish (topic: string, data: Uint8Array): Promise<{ recipients: number }> {
    checkTopic(topic)
    if (data.length > MAX_PUBSUB_MESSAGE - MAX_CAPABILITY_BYTES) {
      throw new MessageTooLargeError(`a pub-sub message may carry at most ${MAX_PUBSUB_MESSAGE - MAX_CAPABILITY_BYTES} bytes; this one has ${data.length}`)
    }
    const grant = await this.grantFor(topic, PUBLISH)
    const i = this.cidBytes(grant.id)
    const now = Date.now()
    const last = this.attached.get(topic)
    const attach = last == null || last.id !== grant.id || now - last.at >= CAP_RESEND_MS || this.newSubscribers.has(topic)
    if (attach) {
      this.attached.set(topic, { id: grant.id, at: now })
      this.newSubscribers.delete(topic)
      // so that peers missing it can fetch it from us
      this.known.set(capKey(this.host.peerId.toString(), topic, i), grant.bytes)
    }
    const env: Envelope = attach ? { i, c: grant.bytes, d: data } : { i, d: data }
    const r = await this.host.services.pubsub.publish(this.prefix + topic, encode(env))
    return { recipients: r.recipients.length }
  }

  private async grantFor (topic: string, ability: string): Promise<{ id: string, bytes: Uint8Array }> {
    const self = this.host.peerId.toString()
    const need = { resource: topicResource(topic), ability }
    for (const bytes of this.init.grants) {
      try {
        const v = await this.init.verifier.check(self, bytes, need)
        return { id: v.capability.id, bytes }
      } catch {}
    }
    throw new MissingAbilityError(`this node holds no capability for ${ability} on ${need.resource}; ask the origin to grant one`)
  }

  private cidBytes (id: string): Uint8Array {
    let b = this.idBytes.get(id)
    if (b == null) {
      b = CID.parse(id).bytes
      this.idBytes.set(id, b)
    }
    return b
  }

  private async validate (topic: string, source: PeerId, msg: Message): Promise<TopicValidatorResult> {
    try {
      if (msg.type !== 'signed') throw new TypeError('unsigned message')
      if (msg.data.length > MAX_PUBSUB_MESSAGE) throw new MessageTooLargeError()
      const env = decodeEnvelope(msg.data)
      const author = msg.from.toString()
      const need = { resource: topicResource(topic), ability: PUBLISH }
      const key = capKey(author, topic, env.i)
      if (env.c != null) {
        // carried: verify it and check that it is the capability the message refers to
        const carried = env.c
        const checked = (async () => {
          const v = await this.init.verifier.check(author, carried, need)
          if (!bytesEqual(this.cidBytes(v.capability.id), env.i)) throw new TypeError('the envelope refers to another capability than the one it carries')
          this.known.set(key, carried)
          return carried
        })()
        if (!this.inflight.has(key)) this.track(key, checked.catch(() => undefined))
        await checked
      } else {
        // messages waiting for a capability under way are served first, in arrival order
        const pending = this.inflight.get(key)
        const held = pending == null ? this.known.get(key) : await pending
        const bytes = held ?? (pending == null ? await this.obtain(key, topic, env.i, msg.from, source) : undefined)
        if (bytes === 'refused') throw new TypeError(`its author holds no capability ${idString(env.i)} for this topic`)
        if (bytes == null) {
          this.unverified++
          this.init.log?.(`dropped a message on ${topic} from ${author}: its capability ${idString(env.i)} could not be obtained`)
          return TopicValidatorResult.Ignore
        }
        // on every message: the capability must still be valid (expiry, revocations) for this author and topic
        await this.init.verifier.check(author, bytes, need)
        if (pending != null || held == null) this.known.set(key, bytes)
      }
      this.payloads.set(msg, env.d)
      return TopicValidatorResult.Accept
    } catch (err) {
      this.rejected++
      this.init.log?.(`rejected a message on ${topic} from ${authorOf(msg)}: ${(err as Error).message}`)
      return TopicValidatorResult.Reject
    }
  }

  private track (key: string, p: Promise<Uint8Array | undefined>): void {
    this.inflight.set(key, p)
    void p.finally(() => { if (this.inflight.get(key) === p) this.inflight.delete(key) })
  }

  /**
   * Fetch the capability bytes under `key` from the forwarder, then the author
   * (unless no peer could supply them a moment ago). 'refused' when the author
   * itself forwarded the message and says it holds no such capability.
   */
  private async obtain (key: string, topic: string, id: Uint8Array, author: PeerId, source: PeerId): Promise<Uint8Array | undefined | 'refused'> {
    const until = this.missing.get(key)
    if (until != null && until > Date.now()) return undefined
    let refused = false
    const fetch = (async (): Promise<Uint8Array | undefined> => {
      const peers = source.equals(author) ? [source] : [source, author]
      for (const peer of peers) {
        if (!peer.equals(source) && this.host.getConnections(peer).length === 0) continue
        const got = await this.fetchCap(peer, topic, author.toString(), id)
        if (got instanceof Uint8Array) return got
        if (got === 'absent' && peer.equals(author)) refused = true
      }
      return undefined
    })()
    this.track(key, fetch)
    const bytes = await fetch
    if (bytes == null) this.missing.set(key, Date.now() + MISSING_TTL_MS)
    return bytes ?? (refused ? 'refused' : undefined)
  }

  /** Ask `peer` for `author`'s capability `id` on `topic`; undefined when the peer could not be asked or did not answer. */
  private async fetchCap (peer: PeerId, topic: string, author: string, id: Uint8Array): Promise<Uint8Array | 'absent' | undefined> {
    const p = peer.toString()
    const busy = this.fetchesTo.get(p) ?? 0
    if (busy >= MAX_FETCHES_PER_PEER) return undefined
    this.fetchesTo.set(p, busy + 1)
    let stream: Stream | undefined
    try {
      const grant = await this.grantFor(topic, SUBSCRIBE)
      const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
      stream = await this.host.dialProtocol(peer, PUBSUB_CAP_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_CAP_RESPONSE })
      await lp.write(encode({ a: author, c: grant.bytes, i: id, t: topic }), { signal })
      const data = await lp.read({ signal })
      await stream.close().catch(() => {})
      try {
        const res = decode(data.subarray(), { maxBytes: MAX_CAP_RESPONSE })
        if (res == null || typeof res !== 'object' || Array.isArray(res)) throw new TypeError('a capability response must be { c? }')
        const { c } = res as { c?: unknown }
        if (c === undefined && Object.keys(res).length === 0) return 'absent'
        if (!(c instanceof Uint8Array) || Object.keys(res).length !== 1) throw new TypeError('a capability response must be { c? }')
        const cap = await decodeCapability(c, { maxBytes: MAX_CAPABILITY_BYTES })
        if (!bytesEqual(this.cidBytes(cap.id), id)) throw new TypeError(`it answered with capability ${cap.id}, not the ${idString(id)} asked for`)
        this.capsFetched++
        return c
      } catch (err) {
        // a peer answering with garbage or with another capability is an offender
        this.init.log?.(`refused the capability response of ${p} and disconnected it: ${(err as Error).message}`)
        disconnect(this.host, peer, err as Error)
        return undefined
      }
    } catch (err) {
      // unreachable, slow, or not serving the protocol: not an offence
      stream?.abort(err as Error)
      this.init.log?.(`could not fetch capability ${idString(id)} from ${p}: ${(err as Error).message}`)
      return undefined
    } finally {
      const n = (this.fetchesTo.get(p) ?? 1) - 1
      if (n <= 0) this.fetchesTo.delete(p)
      else this.fetchesTo.set(p, n)
    }
  }

  /** Serve one capability request: the requester must hold a subscribe capability on the topic it asks about. */
  private async onCapRequest (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    try {
      const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
      const lp = lpStream(stream, { maxDataLength: MAX_CAP_REQUEST })
      const req = decodeCapRequest((await lp.read({ signal })).subarray())
      await this.init.verifier.check(from, req.c, { resource: topicResource(req.t), ability: SUBSCRIBE })
      const bytes = this.known.get(capKey(req.a, req.t, req.i))
      await lp.write(encode(bytes == null ? {} : { c: bytes }), { signal })
      if (bytes != null) this.capsServed++
      await stream.close().catch(() => {})
    } catch (err) {
      if (isTransportFailure(err)) {
        stream.abort(err as Error)
        return
      }
      this.rejected++
      this.init.log?.(`refused a capability request from ${from} and disconnected it: ${(err as Error).message}`)
      stream.abort(err as Error)
      disconnect(this.host, conn.remotePeer, err as Error)
    }
  }
}

interface Envelope { i: Uint8Array, c?: Uint8Array, d: Uint8Array }

/**
 * The envelope of a message's data. Strict DAG-CBOR (no indefinite lengths, no
 * duplicate keys, shortest integers) but not re-encoded to prove it canonical:
 * nothing hashes or signs the envelope's value, the author's gossipsub
 * signature covers its exact bytes, and the re-encode cost a third of the
 * decode on every message at every node.
 */
function decodeEnvelope (data: Uint8Array): Envelope {
  if (data.byteLength > MAX_PUBSUB_MESSAGE) throw new MessageTooLargeError()
  // the author's signature covers these exact bytes; nothing hashes the envelope again
  const env = decode(data, { maxBytes: MAX_PUBSUB_MESSAGE, canonical: false })
  if (env == null || typeof env !== 'object' || Array.isArray(env)) throw new TypeError('envelope must be { i, c?, d }')
  const { i, c, d } = env as Record<string, unknown>
  if (!(i instanceof Uint8Array) || i.length === 0 || i.length > MAX_CAP_ID_BYTES) throw new TypeError('envelope field i must be a capability id (CID bytes)')
  if (c !== undefined && !(c instanceof Uint8Array)) throw new TypeError('envelope field c must be capability bytes')
  if (!(d instanceof Uint8Array)) throw new TypeError('envelope field d must be bytes')
  if (Object.keys(env).length !== (c === undefined ? 2 : 3)) throw new TypeError('envelope must be { i, c?, d } and nothing else')
  return c === undefined ? { i, d } : { i, c, d }
}

interface CapRequest { a: string, c: Uint8Array, i: Uint8Array, t: string }

function decodeCapRequest (bytes: Uint8Array): CapRequest {
  const req = decode(bytes, { maxBytes: MAX_CAP_REQUEST })
  if (req == null || typeof req !== 'object' || Array.isArray(req) || Object.keys(req).length !== 4) throw new TypeError('a capability request must be { a, c, i, t }')
  const { a, c, i, t } = req as Record<string, unknown>
  if (typeof a !== 'string' || a.length === 0 || a.length > 128) throw new TypeError('request field a must be a peer id')
  if (!(c instanceof Uint8Array)) throw new TypeError('request field c must be capability bytes')
  if (!(i instanceof Uint8Array) || i.length === 0 || i.length > MAX_CAP_ID_BYTES) throw new TypeError('request field i must be a capability id')
  if (typeof t !== 'string' || !TOPIC_RE.test(t)) throw new TypeError('request field t must be a topic')
  return { a, c, i, t }
}

/** Key of a capability held by reference: who it authorises, where, which token. */
function capKey (author: string, topic: string, id: Uint8Array): string {
  return `${author}\n${topic}\n${String.fromCharCode(...id)}`
}

function idString (id: Uint8Array): string {
  try {
    return CID.decode(id).toString()
  } catch {
    return `(${id.length} bytes that are not a CID)`
  }
}

/** A Map bounded to `max` entries that evicts the least recently used one. */
class BoundedMap<K, V> {
  private readonly max: number
  private readonly map = new Map<K, V>()

  constructor (max: number) {
    this.max = max
  }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set (key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K)
  }
}

function authorOf (msg: Message): string {
  return msg.type === 'signed' ? (msg.from as PeerId).toString() : 'an unsigned author'
}

function checkTopic (topic: string): void {
  if (typeof topic !== 'string' || !TOPIC_RE.test(topic)) {
    throw new InvalidTopicError(`topic ${JSON.stringify(topic)} is not valid: use 1-128 characters of A-Z a-z 0-9 . _ - /, starting with a letter or digit`)
  }
}
