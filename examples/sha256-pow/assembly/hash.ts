// sha256 of the whole input: output = the 32-byte digest. Checks the
// AssemblyScript SHA-256 against known vectors (and is a one-line task).
import { input, output } from '@webfabric/sdk/assembly'
import { sha256 } from './sha256'

export function run (): void {
  output(sha256(input()))
}
