// Commands that talk to a running fabric through a node's admin API.
import { UsageError, ago, out, parse, parseNumber, table } from '../cli-util.ts'
import { connectNode, fabricDir } from '../fabric-file.ts'

const common = { fabric: { type: 'string' as const }, node: { type: 'string' as const }, 'node-dir': { type: 'string' as const }, json: { type: 'boolean' as const } }

export async function ls (args: string[]): Promise<number> {
  const usage = 'webfabric ls [--fabric D] [--node NAME | --node-dir D] [--json]\n  the membership view of a node of the fabric (default: a non-rendezvous node)'
  const { values } = parse(args, common, usage)
  const { api, close, node } = await connectNode(fabricDir(values.fabric), values.node, values['node-dir'])
  try {
    const members = (await api.members()) as Array<{ peerId: string, roles: string[], addrs: string[], lastSeen: number, load: Record<string, number>, self: boolean }>
    members.sort((a, b) => Number(b.roles.includes('rendezvous')) - Number(a.roles.includes('rendezvous')) || a.peerId.localeCompare(b.peerId))
    const now = Date.now()
    out(values.json === true, members, () =>
      `${members.length} member(s), as seen by ${node.name}\n` +
      table(['PEER ID', 'ROLES', 'LAST SEEN', 'ADDRS'], members.map(m => [m.peerId + (m.self ? ' (self)' : ''), m.roles.join(','), m.self ? '-' : ago(now - m.lastSeen), m.addrs[0] ?? ''])))
  } finally {
    close()
  }
  return 0
}

export async function pub (args: string[]): Promise<number> {
  const usage = 'webfabric pub TOPIC MESSAGE [--fabric D] [--node NAME | --node-dir D] [--json]'
  const { values, positionals } = parse(args, common, usage)
  if (positionals.length !== 2) throw new UsageError(usage)
  const { api, close, node } = await connectNode(fabricDir(values.fabric), values.node, values['node-dir'])
  try {
    const r = await api.publish(positionals[0], positionals[1])
    out(values.json === true, { node: node.name, topic: positionals[0], ...r }, () => `published on ${positionals[0]} from ${node.name} (${r.recipients} direct peer(s))`)
  } finally {
    close()
  }
  return 0
}

export async function sub (args: string[]): Promise<number> {
  const usage = 'webfabric sub TOPIC [--count N] [--fabric D] [--node NAME | --node-dir D] [--json]\n  print messages on TOPIC until Ctrl-C (or N messages)'
  const { values, positionals } = parse(args, { ...common, count: { type: 'string' } }, usage)
  if (positionals.length !== 1) throw new UsageError(usage)
  const count = parseNumber(values.count, '--count', 1, 1e9)
  const { api, close, node } = await connectNode(fabricDir(values.fabric), values.node, values['node-dir'])
  let seen = 0
  const done = Promise.withResolvers<void>()
  const subscription = await api.subscribe(positionals[0], msg => {
    seen++
    const text = new TextDecoder().decode(msg.data)
    console.log(values.json === true ? JSON.stringify({ topic: msg.topic, from: msg.from, data: text }) : `${msg.from.slice(-8)}: ${text}`)
    if (count != null && seen >= count) done.resolve()
  })
  if (values.json !== true) console.error(`subscribed to ${positionals[0]} on ${node.name}`)
  else console.log(JSON.stringify({ event: 'subscribed', topic: positionals[0], node: node.name }))
  process.once('SIGINT', () => done.resolve())
  process.once('SIGTERM', () => done.resolve())
  await done.promise
  await subscription.cancel().catch(() => {})
  close()
  return 0
}

export async function status (args: string[]): Promise<number> {
  const usage = 'webfabric status [--fabric D] [--node NAME | --node-dir D] [--json]\n  one node: identity, roles, addresses, connections and refusal counters'
  const { values } = parse(args, common, usage)
  const { api, close, node } = await connectNode(fabricDir(values.fabric), values.node, values['node-dir'])
  try {
    const info = await api.info()
    const stats = await api.stats()
    out(values.json === true, { ...info, stats }, () => [
      `${node.name}: ${info.peerId} (${info.roles.join(', ')})`,
      `  did       ${info.did}`,
      `  origin    ${info.origin} — manifest ${info.manifest.name} v${info.manifest.version}`,
      ...info.addrs.map((a, i) => `  ${i === 0 ? 'addrs    ' : '         '} ${a}`),
      ...Object.entries(stats).map(([k, v]) => `  ${k.padEnd(20)} ${v}`)
    ].join('\n'))
  } finally {
    close()
  }
  return 0
}
