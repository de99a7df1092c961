// `start` (one node in the foreground) and `up` (a local fabric).
import { resolve } from 'node:path'
import { FabricNode } from '@webfabric/runtime'
import { UsageError, parse, parseNumber, table } from '../cli-util.ts'
import { fabricDir } from '../fabric-file.ts'
import { loadCredentials, loadSignedManifest } from '../keys.ts'
import { dashboardUrl, startLocalFabric } from '../local-fabric.ts'
import { buildWebApp } from '@webfabric/web/build'

export async function start (args: string[]): Promise<number> {
  const usage = `webfabric start --dir D --manifest SIGNED.json --credentials CREDS.json [--credentials MORE.json] [options]
  --listen MA          multiaddr to listen on (repeatable; default 127.0.0.1 tcp + ws, any port)
  --bootstrap MA       peer to join through (repeatable; default the manifest's rendezvous)
  --rendezvous         serve as rendezvous: circuit relay server and membership seed
  --roles a,b          roles this node serves (default compute, or rendezvous)
  --admin-port P       admin API port on 127.0.0.1 (default any free port)
  --allow-loopback     exempt 127.0.0.1 peers from inbound rate limits (local fabrics)
  --interval MS --ttl MS   membership timing
  --slots N            sandbox domains lent to compute (default cores × the manifest's cpuShare)
  --saboteur wrong     DEMOS AND TESTS ONLY: return corrupted results (a byzantine worker)
  --web                serve the participant page and the dashboard (builds apps/web when needed)
  --web-port P         port of the web app on 127.0.0.1 (default any free port)
  --web-root DIR       serve this built app instead of building apps/web
  --json               print events as JSON lines`
  const { values } = parse(args, {
    dir: { type: 'string' }, manifest: { type: 'string' }, credentials: { type: 'string', multiple: true },
    listen: { type: 'string', multiple: true }, bootstrap: { type: 'string', multiple: true },
    rendezvous: { type: 'boolean' }, roles: { type: 'string' }, 'admin-port': { type: 'string' },
    'allow-loopback': { type: 'boolean' }, interval: { type: 'string' }, ttl: { type: 'string' }, json: { type: 'boolean' },
    slots: { type: 'string' }, saboteur: { type: 'string' },
    web: { type: 'boolean' }, 'web-port': { type: 'string' }, 'web-root': { type: 'string' }
  }, usage)
  if (values.saboteur != null && values.saboteur !== 'wrong') throw new UsageError('--saboteur takes: wrong')
  if (values.dir == null || values.manifest == null || values.credentials == null) throw new UsageError(usage)
  const json = values.json === true
  const log = (msg: string): void => console.error(`${new Date().toISOString()} ${msg}`)
  const webPort = parseNumber(values['web-port'], '--web-port', 0, 65535)
  const web = values.web === true || values['web-root'] != null || webPort != null
    ? { root: values['web-root'] != null ? resolve(values['web-root']) : await buildWebApp({ log }), port: webPort }
    : undefined
  const node = new FabricNode({
    dataDir: resolve(values.dir),
    manifest: await loadSignedManifest(values.manifest),
    credentials: await loadCredentials(values.credentials),
    listen: values.listen,
    bootstrap: values.bootstrap,
    rendezvous: values.rendezvous === true,
    roles: values.roles?.split(',').filter(Boolean),
    allowLoopback: values['allow-loopback'] === true,
    admin: { port: parseNumber(values['admin-port'], '--admin-port', 0, 65535) },
    membership: {
      intervalMs: parseNumber(values.interval, '--interval', 10, 60000),
      ttlMs: parseNumber(values.ttl, '--ttl', 100, 3600000)
    },
    // a node started from the command line lives on: its domains start with it, not in its first job
    compute: { slots: parseNumber(values.slots, '--slots', 1, 256), saboteur: values.saboteur, prestart: true },
    web,
    log
  })
  await node.start()
  if (values.saboteur != null) console.error(`WARNING: this node is a saboteur (--saboteur ${values.saboteur}): it returns wrong results on purpose`)
  const ready = { event: 'ready', peerId: node.peerId, did: node.did, roles: node.roles, addrs: node.addrs(), admin: node.adminUrl, ...(node.webUrl != null ? { web: node.webUrl } : {}) }
  const webLines = node.webUrl != null ? `\n  participant page ${node.webUrl}\n  dashboard ${dashboardUrl(node.webUrl, node.adminUrl, node.adminToken)}` : ''
  console.log(json ? JSON.stringify(ready) : `node ${node.peerId} running (${node.roles.join(', ')})\n  did ${node.did}\n  ${node.addrs().join('\n  ')}\n  admin ${node.adminUrl}${webLines}\nCtrl-C to stop.`)
  node.membership.addEventListener('join', e => { if (json) console.log(JSON.stringify({ event: 'join', ...(e as CustomEvent).detail })) })
  node.membership.addEventListener('leave', e => { if (json) console.log(JSON.stringify({ event: 'leave', ...(e as CustomEvent).detail })) })
  const shutdown = (): void => { void node.stop() }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  await node.whenStopped
  if (json) console.log(JSON.stringify({ event: 'stopped' }))
  return 0
}

export async function up (args: string[]): Promise<number> {
  const usage = `webfabric up --nodes N [--dir D] [--interval MS] [--ttl MS] [--slots N] [--json]
  start a local fabric: one rendezvous (also the compute coordinator) plus N nodes, each its own
  process, on 127.0.0.1; writes D/fabric.json (default D: ./.webfabric) and stays in the foreground
  until Ctrl-C
  --slots N          sandbox domains per node (default: cores × the manifest's cpuShare)
  --storage-mib N    storage each node lends the fabric, MiB (default: the manifest's default, 1024)
  --no-web           do not serve the participant page and dashboard (served by the rendezvous by default)
  --web-port P       port of the web app (default any free port)
  --saboteur NAME    DEMOS AND TESTS ONLY: node NAME (e.g. node-3) returns wrong results (repeatable)`
  const { values } = parse(args, {
    nodes: { type: 'string' }, dir: { type: 'string' }, interval: { type: 'string' }, ttl: { type: 'string' }, json: { type: 'boolean' },
    slots: { type: 'string' }, saboteur: { type: 'string', multiple: true }, 'storage-mib': { type: 'string' },
    'no-web': { type: 'boolean' }, 'web-port': { type: 'string' }
  }, usage)
  const nodes = parseNumber(values.nodes ?? '3', '--nodes', 1, 64)!
  if (!Number.isInteger(nodes)) throw new UsageError('--nodes must be a whole number')
  const dir = fabricDir(values.dir)
  const json = values.json === true
  const say = (line: string): void => { if (!json) console.log(line) }
  say(`starting a local fabric in ${dir}: a rendezvous and ${nodes} node(s)…`)
  const fabric = await startLocalFabric({
    dir,
    nodes,
    intervalMs: parseNumber(values.interval, '--interval', 10, 60000),
    ttlMs: parseNumber(values.ttl, '--ttl', 100, 3600000),
    slots: parseNumber(values.slots, '--slots', 1, 256),
    saboteurs: values.saboteur,
    storageMiB: parseNumber(values['storage-mib'], '--storage-mib', 1, 2 ** 30),
    web: values['no-web'] === true ? undefined : { port: parseNumber(values['web-port'], '--web-port', 0, 65535) },
    log: line => say(line)
  })
  if (json) {
    console.log(JSON.stringify({ event: 'up', dir, ...fabric.file }))
  } else {
    console.log(`\n${table(['NAME', 'PEER ID', 'PID', 'ROLES', 'ADMIN'], fabric.file.nodes.map(n => [n.name, n.peerId, String(n.pid), n.roles.join(','), n.admin]))}`)
    if (fabric.file.participantUrl != null) console.log(`\nparticipant page: ${fabric.file.participantUrl}\ndashboard:        ${fabric.file.dashboardUrl}`)
    console.log(`\nfabric.json: ${dir}/fabric.json — try \`webfabric ls --fabric ${dir}\`. Ctrl-C stops the fabric.`)
  }
  await new Promise<void>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  say('\nstopping the fabric…')
  await fabric.stop()
  return 0
}
