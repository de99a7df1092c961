// Offline commands: keys, manifests, capabilities and leases.
import { writeFile } from 'node:fs/promises'
import {
  IDENTITY_ROTATION_MS,
  defaultManifest,
  describeLease,
  epochAt,
  grantLease,
  issue,
  signManifest,
  signedManifestToJSON,
  toBase64url,
  validateManifest,
  verifyLease,
  verifyManifest,
  Identity
} from '@webfabric/protocol'
import { loadKeyring, readJson, writeJson } from '@webfabric/runtime/datadir'
import { UsageError, out, parse, parseDuration, parseNumber } from '../cli-util.ts'
import { connectNode, fabricDir, readFabric } from '../fabric-file.ts'
import { loadKey, loadSignedManifest, loadToken, saveKey } from '../keys.ts'

export async function keygen (args: string[]): Promise<number> {
  const usage = 'webfabric keygen [--out FILE] [--json]\n  make a new Ed25519 key; with --out, write it (owner-only) to FILE'
  const { values } = parse(args, { out: { type: 'string' }, json: { type: 'boolean' } }, usage)
  const id = await Identity.generate()
  if (values.out != null) {
    if (await readJson(values.out) != null) throw new Error(`${values.out} already exists; refusing to overwrite a key`)
    await saveKey(values.out, id)
  }
  out(values.json === true, { did: id.did, file: values.out }, () => values.out != null ? `${id.did}\nwritten to ${values.out}` : id.did)
  return 0
}

export async function id (args: string[]): Promise<number> {
  const usage = 'webfabric id --dir D --origin DID [--json]\n  print the identity this node directory has for ORIGIN (it rotates every 7 days)'
  const { values } = parse(args, { dir: { type: 'string' }, origin: { type: 'string' }, json: { type: 'boolean' } }, usage)
  if (values.dir == null || values.origin == null) throw new UsageError(usage)
  const identity = await (await loadKeyring(values.dir)).identityFor(values.origin, epochAt(Date.now(), IDENTITY_ROTATION_MS))
  out(values.json === true, { did: identity.did }, () => identity.did)
  return 0
}

export async function manifest (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const usage = `webfabric manifest init --key KEY [--name NAME] [--rendezvous MA]... [--out manifest.json]
webfabric manifest sign MANIFEST.json --key KEY [--out manifest.signed.json]
webfabric manifest verify SIGNED.json [--origin DID] [--current-version N] [--json]`
  if (sub === 'init') {
    const { values } = parse(rest, { key: { type: 'string' }, name: { type: 'string' }, rendezvous: { type: 'string', multiple: true }, out: { type: 'string' } }, usage)
    if (values.key == null) throw new UsageError(`manifest init needs --key (the origin's key file)\n\n${usage}`)
    const key = await loadKey(values.key)
    const m = { ...defaultManifest(key.did, values.name ?? 'my fabric', Date.now()), rendezvous: values.rendezvous ?? [] }
    const file = values.out ?? 'manifest.json'
    await writeFile(file, `${JSON.stringify(m, null, 2)}\n`)
    console.log(`wrote ${file}: edit it, then \`webfabric manifest sign ${file} --key ${values.key}\``)
    return 0
  }
  if (sub === 'sign') {
    const { values, positionals } = parse(rest, { key: { type: 'string' }, out: { type: 'string' } }, usage)
    if (positionals.length !== 1 || values.key == null) throw new UsageError(usage)
    const raw = await readJson<unknown>(positionals[0])
    if (raw == null) throw new Error(`${positionals[0]} does not exist`)
    const m = validateManifest(raw)
    const signed = await signManifest(await loadKey(values.key), m)
    const file = values.out ?? `${positionals[0].replace(/\.json$/, '')}.signed.json`
    await writeJson(file, signedManifestToJSON(signed))
    console.log(`signed version ${m.version} of ${m.name}: ${file}`)
    return 0
  }
  if (sub === 'verify') {
    const { values, positionals } = parse(rest, { origin: { type: 'string' }, 'current-version': { type: 'string' }, json: { type: 'boolean' } }, usage)
    if (positionals.length !== 1) throw new UsageError(usage)
    const m = await verifyManifest(await loadSignedManifest(positionals[0]), {
      origin: values.origin,
      currentVersion: parseNumber(values['current-version'], '--current-version', 0, Number.MAX_SAFE_INTEGER)
    })
    out(values.json === true, { valid: true, manifest: m }, () => `valid: ${m.name} version ${m.version}, signed by ${m.origin}`)
    return 0
  }
  throw new UsageError(usage)
}

export async function cap (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const usage = 'webfabric cap issue --key KEY --to DID --resource RES --ability A [--ability B] [--ttl 1d] [--out FILE] [--json]\n  grant DID a capability signed by KEY (e.g. the origin granting a node topic/chat)'
  if (sub !== 'issue') throw new UsageError(usage)
  const { values } = parse(rest, { key: { type: 'string' }, to: { type: 'string' }, resource: { type: 'string' }, ability: { type: 'string', multiple: true }, ttl: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } }, usage)
  if (values.key == null || values.to == null || values.resource == null || values.ability == null) throw new UsageError(usage)
  const now = Date.now()
  const c = await issue(await loadKey(values.key), { audience: values.to, resource: values.resource, abilities: values.ability, expiresAt: now + parseDuration(values.ttl ?? '1d', '--ttl'), now })
  const token = toBase64url(c.bytes)
  if (values.out != null) await writeJson(values.out, { token })
  out(values.json === true, { id: c.id, token }, () => values.out != null ? `capability ${c.id} written to ${values.out}` : token)
  return 0
}

export async function lease (args: string[]): Promise<number> {
  const [sub, ...rest] = args
  const usage = `webfabric lease grant --dir D --origin DID [--kind compute|storage|ingress] [--cpu 0.5] [--memory MiB] [--storage MiB] [--bandwidth KiB/s] [--duration 8h] [--out FILE]
    grant ORIGIN a lease over this device (identity from node directory D)
webfabric lease show [FILE|TOKEN] [--fabric D] [--json]
    describe a lease token, or list the leases of every node of a running fabric
webfabric lease revoke ID [--node NAME] [--fabric D]
    revoke a lease a running node granted; the revocation is gossiped and the node leaves`
  if (sub === 'grant') {
    const { values } = parse(rest, { dir: { type: 'string' }, origin: { type: 'string' }, kind: { type: 'string' }, cpu: { type: 'string' }, memory: { type: 'string' }, storage: { type: 'string' }, bandwidth: { type: 'string' }, duration: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } }, usage)
    if (values.dir == null || values.origin == null) throw new UsageError(usage)
    const kind = values.kind ?? 'compute'
    if (!['compute', 'storage', 'ingress'].includes(kind)) throw new UsageError(`--kind must be compute, storage or ingress (got ${kind})`)
    const now = Date.now()
    const participant = await (await loadKeyring(values.dir)).identityFor(values.origin, epochAt(now, IDENTITY_ROTATION_MS))
    const qos = {
      cpuShare: parseNumber(values.cpu ?? '0.5', '--cpu', 0.01, 1),
      memoryMiB: parseNumber(values.memory ?? '512', '--memory', 0, 2 ** 30),
      storageMiB: parseNumber(values.storage ?? '0', '--storage', 0, 2 ** 30),
      bandwidthKiBps: parseNumber(values.bandwidth ?? '1024', '--bandwidth', 0, 2 ** 30)
    }
    const c = await grantLease(participant, { origin: values.origin, kind: kind as 'compute', qos, durationMs: parseDuration(values.duration ?? '8h', '--duration'), now })
    const token = toBase64url(c.bytes)
    if (values.out != null) await writeJson(values.out, { token })
    out(values.json === true, { ...describeLease(c), token }, () => `lease ${c.id}\n${JSON.stringify(describeLease(c), null, 2)}${values.out != null ? `\nwritten to ${values.out}` : `\ntoken: ${token}`}`)
    return 0
  }
  if (sub === 'show') {
    const { values, positionals } = parse(rest, { fabric: { type: 'string' }, json: { type: 'boolean' } }, usage)
    if (positionals.length === 1) {
      const c = await loadToken(positionals[0])
      const d = describeLease(c)
      let valid = 'valid'
      try {
        await verifyLease(c, { now: Date.now(), origin: c.payload.aud })
      } catch (err) {
        valid = `not valid: ${(err as Error).name}: ${(err as Error).message}`
      }
      out(values.json === true, { ...d, status: valid }, () => `${JSON.stringify(d, null, 2)}\nstatus: ${valid}`)
      return 0
    }
    const dir = fabricDir(values.fabric)
    const fabric = await readFabric(dir)
    const all: unknown[] = []
    for (const n of fabric.nodes) {
      try {
        const { api, close } = await connectNode(dir, n.name)
        const ls = await api.leases()
        close()
        for (const l of ls) all.push({ node: n.name, ...l })
      } catch {}
    }
    out(values.json === true, all, () => all.map(l => JSON.stringify(l)).join('\n') || 'no leases')
    return 0
  }
  if (sub === 'revoke') {
    const { values, positionals } = parse(rest, { fabric: { type: 'string' }, node: { type: 'string' }, json: { type: 'boolean' } }, usage)
    if (positionals.length !== 1) throw new UsageError(usage)
    const dir = fabricDir(values.fabric)
    const fabric = await readFabric(dir)
    const targets = values.node != null ? fabric.nodes.filter(n => n.name === values.node || n.peerId === values.node) : fabric.nodes
    for (const n of targets) {
      try {
        const { api, close } = await connectNode(dir, n.name)
        const ls = await api.leases()
        if (ls.some((l: { id: string }) => l.id === positionals[0])) {
          const r = await api.revokeLease(positionals[0])
          close()
          out(values.json === true, { node: n.name, ...r }, () => `revoked ${positionals[0]} on ${n.name}; the node leaves the fabric`)
          return 0
        }
        close()
      } catch {}
    }
    throw new Error(`no running node holds lease ${positionals[0]}; see \`webfabric lease show\``)
  }
  throw new UsageError(usage)
}
