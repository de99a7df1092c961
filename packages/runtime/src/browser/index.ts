// @webfabric/runtime in the browser: a tab's node. Import this entry from
// pages; it pulls in nothing that needs Node.
export { TabNode, type TabNodeInit } from './tab-node.ts'
export { createTabHost, type TabHostInit } from './host.ts'
export { signedManifestFromJSON } from '@webfabric/protocol'
