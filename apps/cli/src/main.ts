// The `webfabric` command: dispatches to one function per subcommand.
// Exit codes: 0 success, 1 failure, 2 usage error.
import { UsageError } from './cli-util.ts'
import { commands } from './commands/index.ts'

const HELP = `webfabric — run and operate a Web Fabric

usage: webfabric <command> [options]   (webfabric <command> --help for details)

origin keys, manifests, capabilities
  keygen [--out FILE]                      make an Ed25519 key (an origin's key)
  id --dir D --origin DID                  this node's origin-scoped identity
  manifest init|sign|verify                write, sign and check a policy manifest
  cap issue --key K --to DID --resource R --ability A [--ttl 1d]
                                           grant a capability (origin → node)
  lease grant|show|revoke                  leases a participant grants an origin

nodes and local fabrics
  start --dir D --manifest F --credentials F [--rendezvous]
                                           run one node in the foreground
  up --nodes N [--dir D]                   a local fabric: a rendezvous + N nodes
  ls [--json]                              the membership view
  status [--node NAME]                     one node: identity, connections, refusals
  pub TOPIC MESSAGE                        publish on a topic
  sub TOPIC [--count N]                    print a topic's messages

compute
  run TASK --inputs DIR|FILE... [--replicas k] [--quorum q] [--out DIR]
                                           run a task (.wasm or AssemblyScript .ts) per input
  receipts [--node NAME] [--job J]         everything a node ran, with its receipts
  proc spawn|ls|kill|wait                  long-running wasm processes, their output streamed
  demo [--keep]                            the main job (what \`npm start\` runs)

storage
  put FILE [--replicas r | --erasure k+m]  store a file encrypted; prints its read capability
  get CAP [-o FILE]                        read it back, every block verified
  stat CAP                                 its holders and redundancy health
  pin CAP | unpin CAP                      keep it, or let holders drop it when their lease ends
  scrub --node NAME                        re-verify a node's blocks now, healing what fails

Commands that talk to a running fabric find it through DIR/fabric.json
(default ./.webfabric; --fabric DIR to point elsewhere).`

async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name == null || name === 'help' || name === '--help' || name === '-h') {
    console.log(HELP)
    return name == null ? 2 : 0
  }
  const cmd = commands[name]
  if (cmd == null) throw new UsageError(`unknown command ${JSON.stringify(name)}\n\n${HELP}`)
  return (await cmd(rest)) ?? 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  const e = err as Error
  if (e.name === 'UsageError') {
    console.error(`webfabric: ${e.message}`)
    process.exitCode = 2
  } else {
    console.error(`webfabric: ${e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`)
    if (process.env.WEBFABRIC_DEBUG != null) console.error(e.stack)
    process.exitCode = 1
  }
}
