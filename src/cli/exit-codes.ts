/** Exit codes of every `leasehold` command (DESIGN §5; sysexits.h values). */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 64,
  Unavailable: 69,
  TempFail: 75,
  NoPerm: 77,
  Config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
