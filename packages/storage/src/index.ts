// @webfabric/storage: the encrypted content-addressed store (WebCASStore,
// Wetware's blob service) and anchored persistence (WebAnchorProvider).
export {}
