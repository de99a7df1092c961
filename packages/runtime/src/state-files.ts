// Small named JSON documents a node keeps beside its data (what it holds, the
// repair core's snapshot): files in a directory on Node, an IndexedDB object
// store in a tab. Browser-safe: only the interface lives here.

/** A place for a node's small JSON state. Writes are atomic and durable once they resolve. */
export interface StateFiles {
  /** The document `name`, or undefined when there is none; throws when it exists but cannot be read. */
  read: <T>(name: string) => Promise<T | undefined>
  /** Replace the document `name`. */
  write: (name: string, value: unknown) => Promise<void>
  /** Where `name` lives, for messages (a path, or database/key). */
  where: (name: string) => string
}

