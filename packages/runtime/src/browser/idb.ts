// IndexedDB's callbacks as promises, for the tab's own small databases (its
// storage state and the receipt archive). Browser-safe.

/** The result of one request. */
export function request<T> (req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

/** Resolves when `tx` commits, rejects when it aborts. */
export function done (tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
}

/** Opens (creating at version 1 with `create`) the database `name`. */
export function openDatabase (factory: IDBFactory, name: string, create: (db: IDBDatabase) => void): Promise<IDBDatabase> {
  const req = factory.open(name, 1)
  req.onupgradeneeded = () => { create(req.result) }
  return request(req)
}

/** Deletes the database `name`; while another connection holds it open, it goes when that closes. */
export function deleteDatabase (factory: IDBFactory, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = factory.deleteDatabase(name)
    req.onsuccess = () => resolve()
    req.onerror = () => reject(req.error)
    req.onblocked = () => resolve()
  })
}
