// The participant page's seam to @webfabric/runtime/browser: everything the
// page uses of a tab node and of joining, named in one place.
export {
  type Bound,
  type JoinFabricInit,
  type LeaseBounds,
  type MemberView,
  type RevokeReport,
  type TabLeaseChoice,
  type TabLeaseView,
  type TabMeters,
  type TabNode,
  type TabReceipt,
  type TabStopReason,
  checkLeaseChoice,
  joinFabric,
  leaseBounds,
  loadOrigin
} from '@webfabric/runtime/browser'
