// Capability-guarded pub-sub (Wetware's pub-sub service) on gossipsub.
// Every message travels in an envelope { i: capability id, c: capability, d: data }.
// gossipsub's StrictSign binds a message to its author's peer key; the topic
// validator then checks, on every node that sees the message, that the author
// holds a capability from the origin to publish on that topic. Anything else
// is rejected (and counts against the forwarding peer's gossipsub score).
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { MissingAbilityError, decode, encode } from '@webfabric/protocol'
import { MAX_CAPABILITY_BYTES, MAX_PUBSUB_MESSAGE } from './constants.ts'
import type { CredentialVerifier } from './credentials.ts'
import { InvalidTopicError, MessageTooLargeError } from './errors.ts'
import type { Host } from './host.ts'

/** Abilities of the pub-sub service. */
export const PUBLISH = 'pubsub/publish'
export const SUBSCRIBE = 'pubsub/subscribe'

/** The capability resource naming a topic. */
export const topicResource = (topic: string): string => `topic/${topic}`

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
  /** messages refused by topic validators on this node */
  rejected = 0
  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (!msg.topic.startsWith(this.prefix) || msg.type !== 'signed') return
    const topic = msg.topic.slice(this.prefix.length)
    if (!this.subscribed.has(topic)) return
    const env = decode(msg.data, { maxBytes: MAX_PUBSUB_MESSAGE }) as Envelope
    this.dispatchEvent(new CustomEvent('message', { detail: { topic, data: env.d, from: msg.from.toString() } }))
  }

  constructor (host: Host, init: PubSubServiceInit) {
    super()
    this.host = host
    this.init = init
    this.prefix = `${init.prefix}ps/`
  }

  start (): void {
    this.host.services.pubsub.addEventListener('message', this.onMessage)
  }

  stop (): void {
    this.host.services.pubsub.removeEventListener('message', this.onMessage)
    for (const t of this.subscribed) this.unsubscribe(t)
  }

  /** Subscribe to a topic this node holds a subscribe capability for. */
  async subscribe (topic: string): Promise<void> {
    checkTopic(topic)
    await this.grantFor(topic, SUBSCRIBE)
    if (this.subscribed.has(topic)) return
    const full = this.prefix + topic
    this.host.services.pubsub.topicValidators.set(full, async (_peer, msg) => await this.validate(topic, msg))
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
    const env: Envelope = { i: grant.id, c: grant.bytes, d: data }
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

  private async validate (topic: string, msg: Message): Promise<TopicValidatorResult> {
    try {
      if (msg.type !== 'signed') throw new TypeError('unsigned message')
      if (msg.data.length > MAX_PUBSUB_MESSAGE) throw new MessageTooLargeError()
      const env = decode(msg.data, { maxBytes: MAX_PUBSUB_MESSAGE }) as Envelope
      if (env == null || typeof env !== 'object' || !(env.c instanceof Uint8Array) || !(env.d instanceof Uint8Array)) {
        throw new TypeError('envelope must be { i, c, d }')
      }
      await this.init.verifier.check(msg.from.toString(), env.c, { resource: topicResource(topic), ability: PUBLISH })
      return TopicValidatorResult.Accept
    } catch (err) {
      this.rejected++
      this.init.log?.(`rejected a message on ${topic} from ${authorOf(msg)}: ${(err as Error).message}`)
      return TopicValidatorResult.Reject
    }
  }
}

interface Envelope { i: string, c: Uint8Array, d: Uint8Array }

function authorOf (msg: Message): string {
  return msg.type === 'signed' ? (msg.from as PeerId).toString() : 'an unsigned author'
}

function checkTopic (topic: string): void {
  if (typeof topic !== 'string' || !TOPIC_RE.test(topic)) {
    throw new InvalidTopicError(`topic ${JSON.stringify(topic)} is not valid: use 1-128 characters of A-Z a-z 0-9 . _ - /, starting with a letter or digit`)
  }
}
