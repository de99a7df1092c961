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
