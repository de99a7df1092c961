// The table of subcommands. Each module loads on demand, so offline commands
// (keygen, manifest, cap, lease grant) start without loading libp2p.

/** A subcommand: takes its arguments, returns an exit code. */
export type Command = (args: string[]) => Promise<number | undefined>

const lazy = (load: () => Promise<Record<string, unknown>>, name: string): Command =>
  async args => await ((await load())[name] as Command)(args)

const origin = async (): Promise<Record<string, unknown>> => await import('./origin.ts')
const node = async (): Promise<Record<string, unknown>> => await import('./node.ts')
const client = async (): Promise<Record<string, unknown>> => await import('./client.ts')
const compute = async (): Promise<Record<string, unknown>> => await import('./compute.ts')
const storage = async (): Promise<Record<string, unknown>> => await import('./storage.ts')

export const commands: Record<string, Command> = {
  keygen: lazy(origin, 'keygen'),
  id: lazy(origin, 'id'),
  manifest: lazy(origin, 'manifest'),
  cap: lazy(origin, 'cap'),
  lease: lazy(origin, 'lease'),
  start: lazy(node, 'start'),
  up: lazy(node, 'up'),
  ls: lazy(client, 'ls'),
  pub: lazy(client, 'pub'),
  sub: lazy(client, 'sub'),
  status: lazy(client, 'status'),
  run: lazy(compute, 'run'),
  receipts: lazy(compute, 'receipts'),
  proc: lazy(compute, 'proc'),
  put: lazy(storage, 'put'),
  get: lazy(storage, 'get'),
  stat: lazy(storage, 'stat'),
  pin: lazy(storage, 'pin'),
  unpin: lazy(storage, 'unpin'),
  scrub: lazy(storage, 'scrub'),
  demo: lazy(async () => await import('./demo.ts'), 'demo')
}
