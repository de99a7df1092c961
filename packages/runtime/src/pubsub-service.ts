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
//
// The validator's common case — a reference it already holds, from that same
// author — is synchronous: read the envelope (views, no copies), find the
// capability by (topic, reference), compare the author's key bytes, and ask the
// verifier whether the cached verdict still holds now (time window and
// revocations). Anything else takes the asynchronous path below it.
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { MalformedError, MissingAbilityError, WrongAudienceError, bytesEqual, decode, decodeCapability, encode } from '@webfabric/protocol'
import { CID } from 'multiformats/cid'
import { FRAME_TIMEOUT_MS, MAX_CAPABILITY_BYTES, MAX_PUBSUB_MESSAGE } from './constants.ts'
import type { CredentialVerifier, Need, Verdict } from './credentials.ts'
import { InvalidTopicError, MessageTooLargeError } from './errors.ts'
import { disconnect } from './guard.ts'
import type { Host } from './host.ts'
import { type Envelope, MAX_CAP_ID_BYTES, decodeEnvelope, encodeEnvelope } from './pubsub-envelope.ts'
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

/** Capabilities held by reference, per topic: (id → author, bytes, verdict), least recently used evicted. */
const MAX_KNOWN_CAPS = 4096
/** Unobtainable references remembered (so as not to ask again at once), least recently used evicted. */
const MAX_MISSING = 4096
/** Concurrent fetches asked of one peer; beyond them a reference counts as unobtainable. */
const MAX_FETCHES_PER_PEER = 16
/** A reference no peer could supply is not asked for again this long (ms). */
const MISSING_TTL_MS = 10_000

const TOPIC_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$/

/** A message delivered to a subscriber. */
export interface PubSubMessage {
  topic: string
  /** a view of the received message (as gossipsub delivers its own): read it, copy it to change it */
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

/** A capability that verified for one author on one topic, held by reference. */
interface Held {
  /** its CID bytes */
  id: Uint8Array
  /** the author's peer id: multihash bytes (compared on every message) and string */
  author: Uint8Array
  authorId: string
  /** the capability's bytes: what a fetch of the reference is answered with */
  bytes: Uint8Array
  /** re-checked (time, revocations) on every use */
  verdict: Verdict
}

/** What this node knows of one topic: the capabilities its messages refer to, by reference. */
interface TopicCaps {
  topic: string
  need: Need
  /** refKey(id) → the capability with that id */
  held: BoundedMap<string, Held>
}

/** This node's own capability for (topic, ability), and its verdict. */
interface OwnGrant { id: string, idBytes: Uint8Array, bytes: Uint8Array, verdict: Verdict }

/** Events: `message` (CustomEvent<PubSubMessage>). */
export class PubSubService extends EventTarget {
  private readonly host: Host
  private readonly init: PubSubServiceInit
  private readonly prefix: string
  /** subscribed topics, by their gossipsub topic string */
  private readonly subscribed = new Map<string, TopicCaps>()
  /** messages refused by topic validators on this node (proven unauthorised or malformed) */
  rejected = 0
  /** messages dropped because their capability could not be obtained (never delivered, forwarder not penalised) */
  unverified = 0
  /** capabilities fetched by reference from other peers */
  capsFetched = 0
  /** capability requests this node answered */
  capsServed = 0
  /** topic → the capabilities that verified there (subscribed topics, and those this node published on) */
  private readonly caps = new Map<string, TopicCaps>()
  /** (author, topic, id) → the capability being obtained (carried bytes under check, or a fetch) */
  private readonly inflight = new Map<string, Promise<Uint8Array | undefined>>()
  /** (author, topic, id) → until when not to ask again */
  private readonly missing = new BoundedMap<string, number>(MAX_MISSING)
  /** (ability, topic) → this node's capability for it */
  private readonly own = new Map<string, OwnGrant>()
  private readonly fetchesTo = new Map<string, number>()
  /** per topic: which capability this node last attached to a message it published, and when */
  private readonly attached = new Map<string, { id: string, at: number }>()
  /** topics a peer subscribed to since this node last attached its capability there */
  private readonly newSubscribers = new Set<string>()
  private readonly idBytes = new BoundedMap<string, Uint8Array>(64)

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    const t = this.subscribed.get(msg.topic)
    if (t == null || msg.type !== 'signed') return
    // it passed our validator, so its envelope reads (again: views, no copies)
    const env = decodeEnvelope(msg.data)
    // the author's string form from the capability it verified with (base58 per message costs more than the rest)
    const held = t.held.get(refKey(env.i))
    const from = held != null && bytesEqual(held.author, msg.from.toMultihash().bytes) ? held.authorId : msg.from.toString()
    this.dispatchEvent(new CustomEvent('message', { detail: { topic: t.topic, data: env.d, from } }))
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
    for (const t of [...this.subscribed.values()]) this.unsubscribe(t.topic)
    this.host.unhandle(PUBSUB_CAP_PROTOCOL).catch(() => {})
  }

  /** Subscribe to a topic this node holds a subscribe capability for. */
  async subscribe (topic: string): Promise<void> {
    checkTopic(topic)
    await this.grantFor(topic, SUBSCRIBE)
    const full = this.prefix + topic
    if (this.subscribed.has(full)) return
    const t = this.capsOf(topic)
    this.host.services.pubsub.topicValidators.set(full, (source, msg) => this.validate(t, source, msg))
    this.subscribed.set(full, t)
    this.host.services.pubsub.subscribe(full)
  }

  /** Leave a topic. */
  unsubscribe (topic: string): void {
    const full = this.prefix + topic
    if (!this.subscribed.delete(full)) return
    this.host.services.pubsub.unsubscribe(full)
    this.host.services.pubsub.topicValidators.delete(full)
  }

  /** The gossipsub topic string that carries `topic`. */
  gossipTopic (topic: string): string {
    return this.prefix + topic
  }

  /** Topics this node is subscribed to. */
  topics (): string[] {
    return [...this.subscribed.values()].map(t => t.topic)
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
    const grant = this.ownGrant(topic, PUBLISH) ?? await this.grantFor(topic, PUBLISH)
    const i = grant.idBytes
    const now = Date.now()
    const last = this.attached.get(topic)
    const attach = last == null || last.id !== grant.id || now - last.at >= CAP_RESEND_MS || this.newSubscribers.has(topic)
    if (attach) {
      this.attached.set(topic, { id: grant.id, at: now })
      this.newSubscribers.delete(topic)
      // so that peers missing it can fetch it from us
      const self = this.host.peerId
      this.capsOf(topic).held.set(refKey(i), { id: i, author: self.toMultihash().bytes, authorId: self.toString(), bytes: grant.bytes, verdict: grant.verdict })
    }
    const r = await this.host.services.pubsub.publish(this.prefix + topic, encodeEnvelope(attach ? { i, c: grant.bytes, d: data } : { i, d: data }))
    return { recipients: r.recipients.length }
  }

  /** This node's capability for `ability` on `topic` found before, if it still holds. */
  private ownGrant (topic: string, ability: string): OwnGrant | undefined {
    const g = this.own.get(`${ability}\n${topic}`)
    return g != null && this.init.verifier.holds(g.verdict) ? g : undefined
  }

  /** Search this node's capabilities for one granting `ability` on `topic` (MissingAbilityError if none). */
  private async grantFor (topic: string, ability: string): Promise<OwnGrant> {
    const found = this.ownGrant(topic, ability)
    if (found != null) return found
    const self = this.host.peerId.toString()
    const need = { resource: topicResource(topic), ability }
    for (const bytes of this.init.grants) {
      try {
        const verdict = await this.init.verifier.verdict(self, bytes, need)
        const id = verdict.verified.capability.id
        const g: OwnGrant = { id, idBytes: this.cidBytes(id), bytes, verdict }
        this.own.set(`${ability}\n${topic}`, g)
        return g
      } catch {}
    }
    throw new MissingAbilityError(`this node holds no capability for ${ability} on ${need.resource}; ask the origin to grant one`)
  }

  /** What this node knows of `topic`'s capabilities (made on first use: only for topics of this node's own choosing). */
  private capsOf (topic: string): TopicCaps {
    let t = this.caps.get(topic)
    if (t == null) {
      t = { topic, need: { resource: topicResource(topic), ability: PUBLISH }, held: new BoundedMap(MAX_KNOWN_CAPS) }
      this.caps.set(topic, t)
    }
    return t
  }

  private cidBytes (id: string): Uint8Array {
    let b = this.idBytes.get(id)
    if (b == null) {
      b = CID.parse(id).bytes
      this.idBytes.set(id, b)
    }
    return b
  }

  /**
   * The topic validator. Synchronous when the message refers to a capability
   * held for this topic and author whose verdict still holds now (time window,
   * revocations) and nothing is being obtained; otherwise the asynchronous path.
   */
  private validate (t: TopicCaps, source: PeerId, msg: Message): TopicValidatorResult | Promise<TopicValidatorResult> {
    let env: Envelope
    try {
      if (msg.type !== 'signed') throw new MalformedError('unsigned message', { field: 'message' })
      env = decodeEnvelope(msg.data)
      const held = this.inflight.size === 0 ? t.held.get(refKey(env.i)) : undefined
      if (held != null &&
        bytesEqual(held.id, env.i) &&
        bytesEqual(held.author, msg.from.toMultihash().bytes) &&
        (env.c === undefined || bytesEqual(env.c, held.bytes)) &&
        this.init.verifier.holds(held.verdict)) {
        return TopicValidatorResult.Accept
      }
    } catch (err) {
      return this.refuse(t.topic, msg, err as Error)
    }
    return this.validateSlowly(t, env, source, msg as Message & { type: 'signed' })
  }

  /** Validation that has to wait: a carried capability to verify, a reference to fetch or being fetched, a verdict to renew. */
  private async validateSlowly (t: TopicCaps, env: Envelope, source: PeerId, msg: Message & { type: 'signed' }): Promise<TopicValidatorResult> {
    try {
      const author = msg.from.toString()
      const key = capKey(author, t.topic, env.i)
      if (env.c !== undefined) {
        // carried: verify it and check that it is the capability the message refers to
        const checked = this.admit(t, msg.from, env.i, env.c)
        if (!this.inflight.has(key)) this.track(key, checked.catch(() => undefined))
        await checked
      } else {
        // messages waiting for a capability under way are served first, in arrival order
        const pending = this.inflight.get(key)
        const other = t.held.get(refKey(env.i))
        if (pending == null && other != null && bytesEqual(other.id, env.i) && !bytesEqual(other.author, msg.from.toMultihash().bytes)) {
          // that capability verified for another author, its one audience: no need to fetch it to know
          throw new WrongAudienceError(`capability ${idString(env.i)} is addressed to ${other.authorId}, not to this message's author`)
        }
        const held = pending == null ? this.heldFor(t, env.i, msg.from)?.bytes : await pending
        const bytes = held ?? (pending == null ? await this.obtain(key, t.topic, env.i, msg.from, source) : undefined)
        if (bytes === 'refused') throw new MissingAbilityError(`its author holds no capability ${idString(env.i)} for this topic`)
        if (bytes == null) {
          this.unverified++
          this.init.log?.(`dropped a message on ${t.topic} from ${author}: its capability ${idString(env.i)} could not be obtained`)
          return TopicValidatorResult.Ignore
        }
        // on every message: the capability must still be valid (expiry, revocations) for this author and topic
        await this.admit(t, msg.from, env.i, bytes)
      }
      return TopicValidatorResult.Accept
    } catch (err) {
      return this.refuse(t.topic, msg, err as Error)
    }
  }

  private refuse (topic: string, msg: Message, err: Error): TopicValidatorResult {
    this.rejected++
    this.init.log?.(`rejected a message on ${topic} from ${authorOf(msg)}: ${err.message}`)
    return TopicValidatorResult.Reject
  }

  /** The capability held for `id` on this topic, if it verified for this `author`. */
  private heldFor (t: TopicCaps, id: Uint8Array, author: PeerId): Held | undefined {
    const held = t.held.get(refKey(id))
    return held != null && bytesEqual(held.id, id) && bytesEqual(held.author, author.toMultihash().bytes) ? held : undefined
  }

  /**
   * Verify `bytes` as `author`'s capability `id` to publish on the topic (the
   * verifier's cached verdict when it still holds) and hold it by reference.
   * Resolves with the bytes held; throws when they do not verify or are not `id`.
   */
  private async admit (t: TopicCaps, author: PeerId, id: Uint8Array, bytes: Uint8Array): Promise<Uint8Array> {
    const verdict = await this.init.verifier.verdict(author.toString(), bytes, t.need)
    if (!bytesEqual(this.cidBytes(verdict.verified.capability.id), id)) {
      throw new MalformedError('the envelope refers to another capability than the one it carries', { field: 'envelope' })
    }
    const key = refKey(id)
    const held = t.held.get(key)
    if (held != null && bytesEqual(held.id, id) && bytesEqual(held.author, author.toMultihash().bytes)) {
      held.verdict = verdict
    } else {
      // own copies: the envelope's fields are views of a whole message
      t.held.set(key, { id: id.slice(), author: author.toMultihash().bytes.slice(), authorId: author.toString(), bytes: verdict.bytes, verdict })
    }
    return verdict.bytes
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
      const held = this.caps.get(req.t)?.held.get(refKey(req.i))
      const bytes = held != null && held.authorId === req.a && bytesEqual(held.id, req.i) ? held.bytes : undefined
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

/** Key of a capability being obtained or missing: who it authorises, where, which token. */
function capKey (author: string, topic: string, id: Uint8Array): string {
  return `${author}\n${topic}\n${refKey(id)}`
}

/**
 * Map key of a capability reference: its last 16 bytes (of a CID, 16 bytes of
 * the digest) as a string. Hits are confirmed against the whole reference.
 */
function refKey (id: Uint8Array): string {
  const tail = id.length <= 16 ? id : id.subarray(id.length - 16)
  // apply takes the typed array as it is (spreading it costs ten times more)
  return String.fromCharCode.apply(null, tail as unknown as number[])
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
