import { runKiln } from './program.ts';

// `kiln …` as a process: the real streams and environment, the exit code of the command.
process.exitCode = await runKiln(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
