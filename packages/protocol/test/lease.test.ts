import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  LEASE_ABILITIES,
  LEASE_KINDS,
  RevocationSet,
  delegate,
  describeLease,
  grantLease,
  issue,
  leaseResource,
  parseLeaseResource,
  revoke,
  verifyLease
} from '../src/index.ts'
import { HOUR, NOW, cast, refuses } from './fixtures.ts'

const { origin, alice: participant, mallory } = await cast()
const qos = { cpuShare: 0.25, memoryMiB: 256, bandwidthKiBps: 512 }

describe('grantLease', () => {
  for (const kind of LEASE_KINDS) {
    it(`grants a ${kind} lease on the participant's device`, async () => {
      const lease = await grantLease(participant, { origin: origin.did, kind, qos, durationMs: HOUR, now: NOW })
      const p = lease.payload
      assert.equal(p.iss, participant.did)
      assert.equal(p.aud, origin.did)
      assert.equal(p.res, `device:${participant.did}/${kind}`)
      assert.deepEqual(p.can, LEASE_ABILITIES[kind])
      assert.deepEqual(p.cav, qos)
      assert.equal(p.nbf, NOW)
      assert.equal(p.exp, NOW + HOUR)
      const v = await verifyLease(lease, { now: NOW, origin: origin.did })
      assert.equal(v.participant, participant.did)
      assert.equal(v.origin, origin.did)
      assert.equal(v.kind, kind)
      assert.deepEqual(v.qos, qos)
    })
  }

  it('refuses bad durations, times and QoS with MalformedError', async () => {
    const base = { origin: origin.did, kind: 'compute' as const, qos, durationMs: HOUR, now: NOW }
    await refuses(grantLease(participant, { ...base, durationMs: 0 }), 'MalformedError')
    await refuses(grantLease(participant, { ...base, durationMs: 1.5 }), 'MalformedError')
    await refuses(grantLease(participant, { ...base, now: -1 }), 'MalformedError')
    const e = await refuses(grantLease(participant, { ...base, qos: { cpuShare: 1.5 } }), 'MalformedError')
    assert.equal(e.field, 'qos.cpuShare')
    await refuses(grantLease(participant, { ...base, kind: 'gpu' as 'compute' }), 'MalformedError')
    await refuses(grantLease(participant, { ...base, origin: 'example.com' }), 'MalformedError')
  })
})

describe('verifyLease', () => {
  it('refuses a lease presented to another origin', async () => {
    const lease = await grantLease(participant, { origin: origin.did, kind: 'compute', qos, durationMs: HOUR, now: NOW })
    await refuses(verifyLease(lease, { now: NOW, origin: mallory.did }), 'WrongAudienceError')
  })

  it('refuses an expired or not-yet-valid lease', async () => {
    const lease = await grantLease(participant, { origin: origin.did, kind: 'compute', qos, durationMs: HOUR, now: NOW })
    await refuses(verifyLease(lease, { now: NOW + HOUR, origin: origin.did }), 'TokenExpiredError')
    await refuses(verifyLease(lease, { now: NOW - 1, origin: origin.did }), 'TokenNotYetValidError')
  })

  it('refuses a revoked lease', async () => {
    const lease = await grantLease(participant, { origin: origin.did, kind: 'storage', qos, durationMs: HOUR, now: NOW })
    const set = new RevocationSet()
    set.add(await revoke(participant, lease, NOW + 1))
    await refuses(verifyLease(lease, { now: NOW + 2, origin: origin.did, revocations: set }), 'RevokedError')
  })

  it('refuses a lease on a device issued by anyone but that device\'s participant', async () => {
    const forged = await issue(mallory, {
      audience: origin.did,
      resource: leaseResource(participant.did, 'compute'),
      abilities: ['compute/run'],
      expiresAt: NOW + HOUR,
      now: NOW
    })
    await refuses(verifyLease(forged, { now: NOW, origin: origin.did }), 'BrokenChainError')
  })

  it('checks a requested ability', async () => {
    const lease = await grantLease(participant, { origin: origin.did, kind: 'storage', qos, durationMs: HOUR, now: NOW })
    await verifyLease(lease, { now: NOW, origin: origin.did, ability: 'storage/put' })
    await refuses(verifyLease(lease, { now: NOW, origin: origin.did, ability: 'compute/run' }), 'MissingAbilityError')
  })

  it('verifies a narrower delegation the origin makes of its lease, when addressed to the holder', async () => {
    const lease = await grantLease(participant, { origin: origin.did, kind: 'storage', qos, durationMs: HOUR, now: NOW })
    const narrowed = await delegate(origin, lease, { audience: mallory.did, abilities: ['storage/get'], now: NOW })
    const v = await verifyLease(narrowed, { now: NOW, origin: mallory.did, ability: 'storage/get' })
    assert.equal(v.participant, participant.did)
    await refuses(verifyLease(narrowed, { now: NOW, origin: mallory.did, ability: 'storage/put' }), 'MissingAbilityError')
  })

  it('refuses tokens that are not leases', async () => {
    const other = await issue(participant, { audience: origin.did, resource: 'topic/x', abilities: ['pubsub/publish'], expiresAt: NOW + HOUR, now: NOW })
    const e = await refuses(verifyLease(other, { now: NOW, origin: origin.did }), 'MalformedError')
    assert.equal(e.field, 'res')
  })
})

describe('lease resources', () => {
  it('parse back to participant and kind', () => {
    for (const kind of LEASE_KINDS) assert.deepEqual(parseLeaseResource(leaseResource(participant.did, kind)), { participant: participant.did, kind })
  })

  it('refuse anything else', async () => {
    const bad = ['', 'device:', `device:${participant.did}`, `device:${participant.did}/gpu`, `device:${participant.did}/*`, `host:${participant.did}/compute`, 'device:did:web:x/compute']
    for (const res of bad) await refuses(() => parseLeaseResource(res), 'MalformedError')
    await refuses(() => leaseResource('alice', 'compute'), 'MalformedError')
  })
})

describe('describeLease', () => {
  it('summarises a lease as plain JSON', async () => {
    const lease = await grantLease(participant, { origin: origin.did, kind: 'ingress', qos, durationMs: HOUR, now: NOW })
    const d = describeLease(lease)
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d)
    assert.equal(d.id, lease.id)
    assert.equal(d.kind, 'ingress')
    assert.equal(d.participant, participant.did)
    assert.equal(d.origin, origin.did)
    assert.equal(d.durationMs, HOUR)
    assert.equal(d.notBeforeIso, '2024-01-01T00:00:00.000Z')
    assert.equal(d.expiresAtIso, '2024-01-01T01:00:00.000Z')
    assert.equal(d.delegated, false)
    assert.deepEqual(d.qos, qos)
  })
})
