// @webfabric/runtime in the browser: a tab's node and how a participant page
// joins with it. Import this entry from pages; it pulls in nothing that needs Node.
export { TabNode, type TabNodeInit } from './tab-node.ts'
export { createTabHost, type TabHostInit } from './host.ts'
export { loadOrigin, joinFabric, type JoinFabricInit } from './join.ts'
export { LeaseChoiceError, leaseBounds, defaultLeaseChoice, checkLeaseChoice, deviceShareLimit, type Bound, type LeaseBounds } from './lease-choice.ts'
export { TabReceiptLog, MAX_TAB_RECEIPTS, RECEIPT_ARCHIVE, idbReceiptArchive, type ReceiptArchive } from './receipts.ts'
export type { TabLeaseChoice, TabReceipt, TabMeters, TabLeaseView, RevokeReport, TabStopReason } from './types.ts'
export { fetchManifest, requestJoin, JoinRefusedError, MANIFEST_PATH, JOIN_PATH, type JoinRequest, type JoinResponse } from '../web-wire.ts'
export type { MemberView } from '../membership-service.ts'
export { signedManifestFromJSON } from '@webfabric/protocol'
