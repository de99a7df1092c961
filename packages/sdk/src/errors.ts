/** One compiler diagnostic: where (file, 1-based line and column; 0 when the compiler gave no position) and what. */
export interface CompileDiagnostic {
  file: string
  line: number
  column: number
  /** AssemblyScript's diagnostic code (e.g. 2304 "Cannot find name"), 0 for the SDK's own checks. */
  code: number
  message: string
}

/** The task did not compile, or compiled to a module the VM would refuse. `diagnostics` says where and why. */
export class CompileError extends Error {
  static name = 'CompileError'
  readonly source: string
  readonly diagnostics: CompileDiagnostic[]

  constructor (source: string, diagnostics: CompileDiagnostic[], message = formatDiagnostics(source, diagnostics)) {
    super(message)
    this.name = 'CompileError'
    this.source = source
    this.diagnostics = diagnostics
  }
}

function formatDiagnostics (source: string, diagnostics: CompileDiagnostic[]): string {
  const lines = diagnostics.map(d => {
    const where = d.file === '' ? source : d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file
    return `  ${where}: ${d.code > 0 ? `AS${d.code}: ` : ''}${d.message}`
  })
  return `cannot compile task ${source}:\n${lines.join('\n')}\nFix the source and compile again.`
}
