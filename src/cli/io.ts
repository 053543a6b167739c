/** What a command writes to and how it reports its exit code: real streams in bin/, captured in tests. */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  setExitCode(code: number): void;
}
