// Load in heartbeats: the busy share of a node's domains, announced when it
// moves by a tenth or more, and once more when the node goes idle.
import assert from 'node:assert/strict'
import { describe, it, mock } from 'node:test'
import type { SandboxPoolBase } from '@webfabric/compute'
import { reportLoad } from '../src/load-report.ts'
import type { MembershipService } from '../src/membership-service.ts'

describe('reportLoad', () => {
  it('announces the busy share of the domains when it moves by a tenth, and when it drops to idle', () => {
    mock.timers.enable({ apis: ['setInterval'] })
    try {
      const sent: number[] = []
      const membership = { update: (info: { load: { cpu: number } }) => sent.push(info.load.cpu) } as unknown as MembershipService
      const pool = { load: 0, size: 4 }
      const stop = reportLoad(membership, pool as unknown as SandboxPoolBase, 1000)
      const at = (load: number): void => { pool.load = load; mock.timers.tick(1000) }
      at(0) // idle: nothing to say
      at(1) // 0.25
      at(1) // unchanged
      at(2) // 0.5
      at(9) // queued work counts, capped at 1
      at(4) // still 1
      at(0) // idle again
      stop()
      at(3) // stopped: nothing more
      assert.deepEqual(sent, [0.25, 0.5, 1, 0])
    } finally {
      mock.timers.reset()
    }
  })
})
