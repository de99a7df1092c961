// Shape checks for the fields of wire frames, shared by the protocols' codecs.
// Each throws MalformedError naming the field, in the words of its protocol
// ("compute frame field a must be …"), before anything uses the value.
import { MalformedError } from '@webfabric/protocol'

/** The checks of one protocol's frames. */
export interface FrameChecks {
  /** a string of 1..max characters */
  str: (x: unknown, field: string, max?: number) => string
  /** bytes, at most max */
  bytes: (x: unknown, field: string, max: number) => Uint8Array
  /** a safe integer in 0..max */
  int: (x: unknown, field: string, max: number) => number
  bool: (x: unknown, field: string) => boolean
  /** a plain map with no keys outside `allowed` */
  map: (x: unknown, allowed: readonly string[]) => Record<string, unknown>
}

/** Checks whose errors say `<what> frame field …` (e.g. what = 'compute'); strings default to at most `maxId`. */
export function frameChecks (what: string, maxId = 128): FrameChecks {
  return {
    str (x, field, max = maxId) {
      if (typeof x !== 'string' || x.length === 0 || x.length > max) throw new MalformedError(`${what} frame field ${field} must be a string of 1..${max} characters`, { field })
      return x
    },
    bytes (x, field, max) {
      if (!(x instanceof Uint8Array) || x.byteLength > max) throw new MalformedError(`${what} frame field ${field} must be at most ${max} bytes`, { field })
      return x
    },
    int (x, field, max) {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > max) throw new MalformedError(`${what} frame field ${field} must be an integer from 0 to ${max}`, { field })
      return x
    },
    bool (x, field) {
      if (typeof x !== 'boolean') throw new MalformedError(`${what} frame field ${field} must be true or false`, { field })
      return x
    },
    map (x, allowed) {
      if (x == null || typeof x !== 'object' || Array.isArray(x) || x instanceof Uint8Array) throw new MalformedError(`a ${what} frame is a map`, { field: 'frame' })
      for (const key of Object.keys(x)) if (!allowed.includes(key)) throw new MalformedError(`unknown ${what} frame field ${key}`, { field: key })
      return x as Record<string, unknown>
    }
  }
}
