// The imports a task module may have (packages/compute/ABI.md, task profile).

/** [module, name] of every import a task module may have; anything else is refused by the VM. */
export const TASK_IMPORTS: ReadonlyArray<readonly [string, string]> = [
  ['wf', 'input_size'],
  ['wf', 'input_read'],
  ['wf', 'output_write'],
  ['wf', 'random_fill'],
  ['wf', 'log'],
  ['env', 'abort']
]

/** A long-running process (`webfabric proc spawn`) may also import these (ABI.md, process profile). */
export const PROCESS_IMPORTS: ReadonlyArray<readonly [string, string]> = [
  ...TASK_IMPORTS,
  ['wf', 'now_ms'],
  ['wf', 'sleep_ms'],
  ['wf', 'publish']
]
