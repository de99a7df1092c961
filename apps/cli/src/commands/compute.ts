// Compute commands: `run` a task over the fabric and `receipts` of the work a
// node ran. `run` compiles AssemblyScript for you, reads one input per file,
// submits the job to the fabric's coordinator through its admin API, draws a
// progress bar, and writes every output plus summary.json.
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { type JobProgress, type JobReport, MAX_INPUT_BYTES, type ProcEvent, type ProcInfo } from '@webfabric/runtime'
import { UsageError, ago, out, parse, parseNumber, table } from '../cli-util.ts'
import { connectNode, fabricDir, readFabric } from '../fabric-file.ts'
import { fetchObject, progress, storeFile } from './storage.ts'

/** Read a task: a .wasm module as is, an AssemblyScript .ts compiled with the SDK's flags. */
export async function loadTask (path: string, profile: 'task' | 'process' = 'task'): Promise<Uint8Array> {
  const ext = extname(path)
  if (ext === '.wasm') return new Uint8Array(await readFile(path))
  if (ext === '.ts') {
    const { compileTask } = await import('@webfabric/sdk')
    return await compileTask(path, { profile })
  }
  throw new UsageError(`${path}: a task is a .wasm module or an AssemblyScript .ts file`)
}

/**
 * One task's input: its bytes, or a file too large to send inline (`path`, stored in the fabric
 * before the job), or an object already in the fabric (`cap`, its read capability).
 */
export interface TaskInput { name: string, bytes?: Uint8Array, path?: string, size?: number, cap?: string }

/**
 * Inputs in order: each FILE is one input; a DIR gives each regular file in it, sorted by name; a
 * read capability (`wf-read:…`) names an object in the fabric's storage. Files over MAX_INPUT_BYTES
 * are not read here: they go to the fabric's storage as they are.
 */
export async function loadInputs (paths: string[]): Promise<TaskInput[]> {
  const inputs: TaskInput[] = []
  const file = async (path: string, name: string, size: number): Promise<TaskInput> =>
    size > MAX_INPUT_BYTES ? { name, path, size } : { name, bytes: new Uint8Array(await readFile(path)) }
  for (const p of paths) {
    if (p.startsWith('wf-read:')) { inputs.push({ name: `input-${inputs.length}`, cap: p }); continue }
    const s = await stat(resolve(p)).catch(() => { throw new UsageError(`input ${p} does not exist`) })
    if (s.isDirectory()) {
      const entries = (await readdir(p, { withFileTypes: true })).filter(d => d.isFile()).map(d => d.name).sort()
      if (entries.length === 0) throw new UsageError(`input directory ${p} has no files`)
      for (const n of entries) inputs.push(await file(join(p, n), n, (await stat(join(p, n))).size))
    } else {
      inputs.push(await file(resolve(p), basename(p), s.size))
    }
  }
  return inputs
}

/** A job's name from its task's path: the file's name, or its project's for an `assembly/index.ts`. */
export function taskName (path: string): string {
  const base = basename(path, extname(path))
  if (base !== 'index') return base
  const dir = dirname(path)
  return basename(basename(dir) === 'assembly' ? dirname(dir) : dir)
}

/** Copies of a large input the CLI stores for a job (fewer holders than this: the put says so). */
const TASK_INPUT_REPLICAS = 2

/** A one-line progress bar for a terminal. */
export function progressLine (p: JobProgress, startedMs: number): string {
  const width = 30
  const filled = p.total === 0 ? width : Math.round(width * p.done / p.total)
  const secs = ((performance.now() - startedMs) / 1000).toFixed(1)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} tasks  ${p.executions} executions  ${p.failed > 0 ? `${p.failed} failed  ` : ''}${secs}s`
}

/** The summary.json `run` writes: the job, and per task its input, outcome and where the output is. */
export function summarize (report: JobReport, names: string[], outputs: Array<string | undefined>): unknown {
  return {
    job: report.job,
    module: report.module,
    accepted: report.accepted,
    failed: report.failed,
    executions: report.executions,
    verifications: report.verifications,
    overhead: Number(report.overhead.toFixed(3)),
    wallMs: Math.round(report.wallMs),
    rejectedResults: report.rejectedResults,
    caught: report.caught,
    tasks: report.tasks.map((t, i) => ({
      task: t.task,
      input: names[i],
      state: t.state,
      status: t.status,
      message: t.message,
      output: outputs[i],
      outputCid: t.outputCid,
      outputCap: t.outputCap,
      commitment: t.commitment,
      fuel: t.fuel,
      workers: t.workers,
      verified: t.verified,
      credibility: t.credibility,
      reason: t.reason
    }))
  }
}

/**
 * Write outputs (`<input name>.out`) and summary.json into `dir`; returns the summary. An output the
 * report names by its storage capability (too large to carry) is read by `fetch` into its file.
 */
export async function writeOutputs (dir: string, report: JobReport, names: string[], fetch?: (cap: string, file: string) => Promise<void>): Promise<unknown> {
  await mkdir(dir, { recursive: true })
  const files: Array<string | undefined> = []
  for (const t of report.tasks) {
    const name = names[t.index]
    const file = `${name}.out`
    if (t.output != null) await writeFile(join(dir, file), t.output)
    else if (t.outputCap != null && fetch != null) await fetch(t.outputCap, join(dir, file))
    else { files.push(undefined); continue }
    files.push(file)
  }
  const summary = summarize(report, names, files)
  await writeFile(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`)
  return summary
}

export async function run (args: string[]): Promise<number> {
  const usage = `webfabric run TASK --inputs DIR|FILE... [--replicas k] [--quorum q] [--fuel N] [--out DIR] [--json]
  run TASK (a .wasm module, or AssemblyScript .ts compiled for you) once per input across the fabric;
  each task is accepted when q of k independent workers agree (defaults: the manifest's policy)
  --inputs P       an input file, a directory whose files are inputs, or the read capability (wf-read:…) of an
                   object in the fabric (repeatable; also positional after TASK); a file over 8 MiB, and an
                   output over 8 MiB, travel through the fabric's storage
  --out DIR        where outputs (<input>.out) and summary.json go (default ./webfabric-out/<job>)
  --fuel N         fuel limit of each execution (default 10^10)
  --fabric D --node NAME   which fabric / coordinator node (default the rendezvous)`
  const { values, positionals } = parse(args, {
    inputs: { type: 'string', multiple: true }, replicas: { type: 'string' }, quorum: { type: 'string' }, fuel: { type: 'string' },
    out: { type: 'string' }, json: { type: 'boolean' }, fabric: { type: 'string' }, node: { type: 'string' }
  }, usage)
  const [task, ...more] = positionals
  const inputPaths = [...(values.inputs ?? []), ...more]
  if (task == null || inputPaths.length === 0) throw new UsageError(usage)
  const replicas = parseNumber(values.replicas, '--replicas', 1, 16)
  const quorum = parseNumber(values.quorum, '--quorum', 1, 16)
  if (replicas != null && quorum != null && quorum > replicas) throw new UsageError('--quorum cannot exceed --replicas')
  const fuelLimit = parseNumber(values.fuel, '--fuel', 1, 2 ** 50)
  const json = values.json === true

  const module = await loadTask(resolve(task))
  const inputs = await loadInputs(inputPaths)
  const { api, close, node, url } = await connectNode(fabricDir(values.fabric), values.node ?? 'rendezvous')
  const started = performance.now()
  const tty = process.stderr.isTTY === true && !json
  let lastLine = 0
  try {
    // an input too large to send inline goes into the fabric's storage first (unpinned: it is the job's)
    for (const i of inputs) {
      if (i.path == null) continue
      const bar = progress(`storing ${i.name} in the fabric for the job`, json)
      i.cap = (await storeFile(api, url, i.path, i.size!, { redundancy: { kind: 'replicas', r: TASK_INPUT_REPLICAS }, pin: false }, bytes => { bar.update(bytes, i.size) })).cap
      bar.end()
    }
    if (!json) console.error(`running ${basename(task)} on ${inputs.length} input(s) through ${node.name}…`)
    const report = await api.submitJob({
      module,
      inputs: inputs.map(i => i.cap ?? i.bytes!),
      name: taskName(task),
      ...(replicas != null ? { replicas } : {}),
      ...(quorum != null ? { quorum } : {}),
      ...(fuelLimit != null ? { fuelLimit } : {})
    }, (p: JobProgress) => {
      if (json) return
      if (tty) process.stderr.write(`\r${progressLine(p, started)}`)
      else if (performance.now() - lastLine > 2000 || p.done === p.total) { lastLine = performance.now(); console.error(progressLine(p, started)) }
    })
    if (tty) process.stderr.write('\n')
    const dir = resolve(values.out ?? join('webfabric-out', report.job))
    const summary = await writeOutputs(dir, report, inputs.map(i => i.name), async (cap, file) => {
      const bar = progress(`reading ${basename(file)} from the fabric`, json)
      await fetchObject(api, url, cap, file, (bytes, size) => { bar.update(bytes, size) })
      bar.end()
    })
    out(json, { out: dir, ...(summary as object) }, () => [
      `${report.accepted}/${report.tasks.length} tasks accepted${report.failed > 0 ? `, ${report.failed} failed` : ''} in ${(report.wallMs / 1000).toFixed(1)} s`,
      `  executions ${report.executions} + ${report.verifications} spot-check(s) = ${report.overhead.toFixed(2)} per task`,
      ...(report.rejectedResults > 0 ? [`  ${report.rejectedResults} result(s) rejected${report.caught.length > 0 ? `; caught returning wrong results and blacklisted: ${report.caught.join(', ')}` : ''}`] : []),
      ...report.tasks.filter(t => t.state === 'failed').slice(0, 10).map(t => `  ${inputs[t.index].name}: failed (${t.reason})`),
      ...report.tasks.filter(t => t.state === 'accepted' && t.status !== 'ok').slice(0, 10).map(t => `  ${inputs[t.index].name}: ${t.status}${t.message != null ? ` (${t.message})` : ''}`),
      `  outputs and summary.json in ${dir}`
    ].join('\n'))
    return report.failed === 0 ? 0 : 1
  } finally {
    close()
  }
}

export async function receipts (args: string[]): Promise<number> {
  const usage = `webfabric receipts [--node NAME | --node-dir D] [--job JOB] [--limit N] [--json]
  every execution this node ran for the fabric: what, for whom, fuel, time, and whether it was accepted`
  const { values } = parse(args, {
    fabric: { type: 'string' }, node: { type: 'string' }, 'node-dir': { type: 'string' }, job: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }
  }, usage)
  const limit = parseNumber(values.limit, '--limit', 1, 1e6)
  const { api, close, node } = await connectNode(fabricDir(values.fabric), values.node, values['node-dir'])
  try {
    const list = await api.receipts({ ...(limit != null ? { limit } : {}), ...(values.job != null ? { job: values.job } : {}) })
    const now = Date.now()
    const state = (a: boolean | undefined): string => a == null ? 'pending' : a ? 'accepted' : 'rejected'
    const rows = list.map(r => [ago(now - r.at), r.job, r.task, r.status, String(r.fuel), `${r.wallMs}ms`, state(r.accepted), `…${r.coordinator.slice(-8)}`])
    out(values.json === true, list, () => `${list.length} receipt(s) on ${node.name}\n${table(['WHEN', 'JOB', 'TASK', 'STATUS', 'FUEL', 'WALL', 'RESULT', 'COORDINATOR'], rows)}`)
  } finally {
    close()
  }
  return 0
}

/** Print process events as they come: stdout as is, stderr lines prefixed. */
function printEvent (e: ProcEvent, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ event: e.stream, data: typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data) }))
  } else if (e.stream === 'stdout') {
    process.stdout.write(e.data as Uint8Array)
  } else {
    process.stderr.write(`${e.data as string}\n`)
  }
}

function procExit (p: ProcInfo): number {
  return p.state === 'exited' && p.status === 'ok' ? 0 : 1
}

function describeProc (p: ProcInfo): string {
  const how = p.state === 'exited' ? `exited: ${p.status}${p.message != null ? ` (${p.message})` : ''}, fuel ${p.fuel}` : `${p.state}${p.message != null ? `: ${p.message}` : ''}`
  return `process ${p.id} on …${p.peer.slice(-8)} ${how}`
}

export async function proc (args: string[]): Promise<number> {
  const usage = `webfabric proc spawn MODULE [--on NODE] [--cap pubsub:TOPIC]... [--input FILE] [--fuel N] [--detach] [--json]
webfabric proc ls [--json]
webfabric proc kill ID
webfabric proc wait ID [--json]
  long-running wasm processes (a .wasm module, or AssemblyScript .ts compiled with the process profile):
  spawn runs one on a compute node (--on: a node name from fabric.json or a peer id) and streams its
  stdout and stderr until it ends (--detach: print its id and return); a process holds only the
  capabilities given with --cap (pubsub:TOPIC lets it publish on TOPIC)`
  const [sub, ...rest] = args
  const { values, positionals } = parse(rest, {
    on: { type: 'string' }, cap: { type: 'string', multiple: true }, input: { type: 'string' }, fuel: { type: 'string' },
    detach: { type: 'boolean' }, json: { type: 'boolean' }, fabric: { type: 'string' }, node: { type: 'string' }
  }, usage)
  const json = values.json === true
  const dir = fabricDir(values.fabric)
  if (sub === 'spawn') {
    if (positionals.length !== 1) throw new UsageError(usage)
    const topics: string[] = []
    for (const c of values.cap ?? []) {
      const m = /^pubsub:(.+)$/.exec(c as string)
      if (m == null) throw new UsageError(`--cap ${c}: the capabilities a process can hold are pubsub:TOPIC`)
      topics.push(m[1])
    }
    const fuelLimit = parseNumber(values.fuel, '--fuel', 1, 2 ** 50)
    const module = await loadTask(resolve(positionals[0]), 'process')
    const input = values.input != null ? new Uint8Array(await readFile(resolve(values.input))) : undefined
    let on: string | undefined
    if (values.on != null) {
      const fabric = await readFabric(dir)
      on = fabric.nodes.find(n => n.name === values.on)?.peerId ?? values.on
    }
    const { api, close } = await connectNode(dir, values.node ?? 'rendezvous')
    try {
      const p = await api.procSpawn({ module, input, topics, on, name: basename(positionals[0]), ...(fuelLimit != null ? { fuelLimit } : {}) })
      if (values.detach === true) {
        out(json, p, () => `${p.id}`)
        return 0
      }
      if (!json) console.error(`process ${p.id} running on …${p.peer.slice(-8)} (Ctrl-C detaches; \`webfabric proc kill ${p.id}\` stops it)`)
      const end = await api.procWait(p.id, (e: ProcEvent) => printEvent(e, json))
      if (json) console.log(JSON.stringify({ event: 'end', ...end }))
      else console.error(describeProc(end))
      return procExit(end)
    } finally {
      close()
    }
  }
  const { api, close } = await connectNode(dir, values.node ?? 'rendezvous')
  try {
    switch (sub) {
      case 'ls': {
        const list = await api.procList()
        const now = Date.now()
        out(json, list, () => `${list.length} process(es)\n${table(['ID', 'NAME', 'STATE', 'STATUS', 'NODE', 'STARTED'],
          list.map(p => [p.id, p.name, p.state, p.status ?? '', `…${p.peer.slice(-8)}`, ago(now - p.startedAt)]))}`)
        return 0
      }
      case 'kill': {
        if (positionals.length !== 1) throw new UsageError(usage)
        const p = await api.procKill(positionals[0])
        out(json, p, () => describeProc(p))
        return 0
      }
      case 'wait': {
        if (positionals.length !== 1) throw new UsageError(usage)
        const end = await api.procWait(positionals[0], (e: ProcEvent) => printEvent(e, json))
        if (json) console.log(JSON.stringify({ event: 'end', ...end }))
        else console.error(describeProc(end))
        return procExit(end)
      }
      default:
        throw new UsageError(usage)
    }
  } finally {
    close()
  }
}
