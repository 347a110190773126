/**
 * Runs a ProcessCompute in a process of its own, so that a test can SIGKILL it: the crash of issue 6,
 * where Kiln dies without any chance to clean up. Usage: `node compute-host.ts '<HostCommand JSON>'`.
 * It restores (if asked), launches the stacks, prints the instances as one JSON line and then idles
 * until killed. See `crashAfterLaunching` in process-compute.test.ts.
 */
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import type { StackTags } from '../../functions/core/ports/compute.ts';
import type { Instance, Spec } from '../../functions/core/types.ts';

export interface HostCommand {
  artifactsDir: string;
  stateFile: string;
  logDir?: string;
  restore?: boolean;
  launches: { tags: StackTags; spec: Spec }[];
}

const command = JSON.parse(process.argv[2] ?? '{}') as HostCommand;
const compute = new ProcessCompute({
  artifactsDir: command.artifactsDir,
  stateFile: command.stateFile,
  ...(command.logDir ? { logDir: command.logDir } : {}),
});
if (command.restore) await compute.restore();
const instances: Record<string, Instance[]> = {};
for (const { tags, spec } of command.launches)
  instances[tags.stackId] = await compute.launchStack(tags, spec);
process.stdout.write(`${JSON.stringify(instances)}\n`);
// Instances are unref'd: something must keep this process alive until the test kills it.
setInterval(() => undefined, 60_000);
