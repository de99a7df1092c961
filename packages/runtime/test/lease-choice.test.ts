// The consent form's bounds: what the manifest asks for, never more than the
// device can spare (one core stays with the page), and the check that refuses
// a choice outside them by the control's name.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type PolicyManifest, defaultManifest } from '@webfabric/protocol'
import { type LeaseChoiceError, checkLeaseChoice, defaultLeaseChoice, deviceShareLimit, leaseBounds } from '../src/browser/lease-choice.ts'

const manifest = (cpuShare: number): PolicyManifest => {
  const m = defaultManifest('did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', 'test', 0)
  return { ...m, qos: { ...m.qos, cpuShare } }
}

describe('lease choice', () => {
  it('keeps one core for the device: half of 2 cores, 3/4 of 4, 0.65 of 3, half of a lone core', () => {
    assert.equal(deviceShareLimit(2), 0.5)
    assert.equal(deviceShareLimit(4), 0.75)
    assert.equal(deviceShareLimit(3), 0.65)
    assert.equal(deviceShareLimit(1), 0.5)
    assert.equal(deviceShareLimit(Number.NaN), 0.5)
  })

  it('offers the smaller of the manifest\'s CPU share and the device\'s limit, and defaults to it', () => {
    assert.equal(leaseBounds(manifest(1), 2).cpuShare.max, 0.5)
    assert.equal(leaseBounds(manifest(1), 8).cpuShare.max, 0.85)
    assert.equal(leaseBounds(manifest(0.3), 8).cpuShare.max, 0.3)
    assert.equal(defaultLeaseChoice(manifest(1), 2).cpuShare, 0.5)
  })

  it('refuses a share above the device\'s limit, naming the control and the reason', () => {
    const choice = { ...defaultLeaseChoice(manifest(1), 4), cpuShare: 0.75 }
    assert.deepEqual(checkLeaseChoice(manifest(1), choice, 4), choice)
    assert.throws(() => checkLeaseChoice(manifest(1), choice, 2), (err: LeaseChoiceError) =>
      err.name === 'LeaseChoiceError' && err.field === 'cpuShare' && /keeps one core/.test(err.message))
    assert.throws(() => checkLeaseChoice(manifest(0.5), { ...choice, cpuShare: 0.6 }, 8), (err: LeaseChoiceError) =>
      err.field === 'cpuShare' && /origin asks for at most 0.5/.test(err.message))
  })
})
