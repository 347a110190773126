import * as z from 'zod/mini';
import { reservedVariables } from '../core/instance-env.ts';
import { TIERS } from '../core/types.ts';
import { between, matching, version } from './api-schemas.ts';
import { branchNameProblem, repositoryNameProblem } from './push-events.ts';

/** Edge validation of what a desired state is made of: the spec, the team, the branch it follows. */

const artifactName = matching(
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  'must be 1-128 letters, digits, dots, dashes or underscores',
);

/**
 * Probes resolve the path against the instance's address (`new URL(path, address)`), so it must not be
 * able to name another host: `//host:port/x` is a network-path reference, and WHATWG URLs read `\` as
 * `/` (`/\host:port/x` too) and drop tabs and newlines. Hence one leading `/`, then printable ASCII
 * without `\`; `#` is refused because a fragment is never sent. Percent-encodings stay in the path.
 */
const healthPath = matching(
  /^\/(?!\/)[\x21\x22\x24-\x5b\x5d-\x7e]{0,255}$/,
  'must be a path on the instance such as /health or /health?deep=1: one leading / (not //), ' +
    'then printable ASCII without spaces, \\ or #',
);

const healthCheck = z
  .strictObject({
    path: healthPath,
    intervalSeconds: between(1, 300),
    healthyThreshold: between(1, 10),
    timeoutSeconds: between(1, 120),
    deadlineSeconds: z._default(between(5, 3600), 120),
  })
  .check(
    z.refine((h) => h.timeoutSeconds <= h.intervalSeconds, {
      message: 'timeoutSeconds must not exceed intervalSeconds',
      path: ['timeoutSeconds'],
    }),
  );

const instanceEnv = z
  .record(
    matching(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name'),
    z.string().check(z.maxLength(4096)),
  )
  .check(
    z.refine((env) => Object.keys(env).length <= 100, 'may hold at most 100 variables'),
    z.superRefine((env, context) => {
      const reserved = reservedVariables(Object.keys(env));
      if (reserved.length === 0) return;
      const [verb, pronoun] = reserved.length === 1 ? ['is', 'it changes'] : ['are', 'they change'];
      context.issues.push({
        code: 'custom',
        input: env,
        message: `${reserved.join(', ')} ${verb} reserved: ${pronoun} how the host runs the instance`,
      });
    }),
  );

/**
 * Canary steps: 1 to 10, weights (1–100) rising strictly and ending at 100, the cutover; each bakes
 * 0–3600 s before it is judged (the 100 % step's bake must be 0: once it is live, nothing is judged yet).
 */
const canarySteps = z.array(z.strictObject({ weight: between(1, 100), bakeSeconds: between(0, 3600) })).check(
  z.minLength(1),
  z.maxLength(10),
  z.superRefine((steps, context) => {
    const problem = canaryStepsProblem(steps);
    if (problem) context.issues.push({ code: 'custom', input: steps, message: problem });
  }),
);

function canaryStepsProblem(steps: { weight: number; bakeSeconds: number }[]): string | undefined {
  const rising = steps.every((step, i) => i === 0 || step.weight > (steps[i - 1]?.weight ?? 0));
  if (!rising) return 'weights must rise from step to step';
  const last = steps.at(-1);
  if (last?.weight !== 100) return 'the last step must have weight 100 (the cutover)';
  if (last.bakeSeconds !== 0) return 'the last step (100, the cutover) must have bakeSeconds 0';
  return undefined;
}

// Discriminated by `type`, so that a problem inside a canary is reported as itself, not as "Invalid input".
const strategy = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('blue-green') }),
  z.strictObject({
    type: z.literal('canary'),
    steps: canarySteps,
    analysis: z.optional(
      z.strictObject({
        maxErrorRate: z.number().check(z.minimum(0), z.maximum(1)),
        maxP99Ms: z.optional(between(1, 600_000)),
        minRequests: between(0, 1_000_000),
      }),
    ),
  }),
]);

/**
 * What Lambda's Invoke takes as FunctionName, in the two forms Kiln accepts: a name (1-64 letters, digits,
 * dashes, underscores), or a function ARN with an optional version or alias (`$LATEST`, 1-128 of the same).
 */
const lambdaFunction = matching(
  /^(?:[A-Za-z0-9_-]{1,64}|arn:aws(?:-[a-z]+)*:lambda:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::(?:\$LATEST|[A-Za-z0-9_-]{1,128}))?)$/,
  'must be a Lambda function name (1-64 letters, digits, dashes or underscores) or a function ARN ' +
    'arn:aws:lambda:<region>:<account>:function:<name>[:<version or alias>]',
);

/**
 * A hook runs inside the VerifyStack task, itself a Lambda function of at most 15 minutes (900 s): the
 * hook gets up to 840 s of it, leaving the task the time to open the test route and record the verdict.
 */
export const MAX_HOOK_TIMEOUT_SECONDS = 840;

/** Up to MAX_HOOK_TIMEOUT_SECONDS; a minute unless told. */
const hook = z.strictObject({
  function: lambdaFunction,
  timeoutSeconds: z._default(between(1, MAX_HOOK_TIMEOUT_SECONDS), 60),
});

const hooks = z.strictObject({ beforeTraffic: z.optional(hook), afterTraffic: z.optional(hook) });

export const spec = z.strictObject({
  artifact: artifactName,
  version,
  capacity: between(1, 50),
  instanceType: z.optional(
    matching(/^[a-z0-9]+\.[a-z0-9]+$/, 'must be an EC2 instance type such as t4g.small'),
  ),
  env: z._default(instanceEnv, {}),
  healthCheck,
  strategy: z._default(strategy, { type: 'blue-green' }),
  drainSeconds: z._default(between(0, 300), 10),
  hooks: z.optional(hooks),
});

export const team = matching(/^[a-z0-9-]{1,64}$/, 'must be a team name: lowercase letters, digits, dashes');

/** A string `problem` has nothing to say about; otherwise its answer, prefixed with what was expected, is the issue. */
const checkedBy = (problem: (value: string) => string | undefined, expected: string) =>
  z.string().check(
    z.superRefine((value, context) => {
      const found = problem(value);
      if (found) context.addIssue({ code: 'custom', message: `${expected}: ${found}`, input: value });
    }),
  );

/** A branch name as git takes it and Kiln can key by (push-events.ts `branchNameProblem`). */
const branch = checkedBy(branchNameProblem, 'must be a git branch name such as main or feature/login');

/** A GitHub repository: `owner/name`, the same rule the webhook's pushes are checked by. */
export const githubRepository = checkedBy(
  (name) => repositoryNameProblem('github', name),
  'must be a GitHub repository as owner/name',
);

/** A CodeCommit repository name, the same rule CodeCommit's events are checked by. */
export const codecommitRepository = checkedBy(
  (name) => repositoryNameProblem('codecommit', name),
  'must be a CodeCommit repository name',
);

/** The branch an environment follows: a push there deploys the pushed commit. */
export const source = z.union([
  z.strictObject({ provider: z.literal('github'), repository: githubRepository, branch }),
  z.strictObject({ provider: z.literal('codecommit'), repository: codecommitRepository, branch }),
]);

/**
 * A branch glob: a branch name in which `*` (within a path segment), `**` (across) and `?` stand for
 * branch-name characters.
 */
const branchGlob = checkedBy(
  (glob) => branchNameProblem(glob.replace(/\*\*|\*|\?/g, 'x')),
  'must be a branch glob such as feature/* or preview/**',
);

export const putTemplateBody = z.strictObject({
  team,
  tier: z.enum(TIERS),
  source: z.union([
    z.strictObject({ provider: z.literal('github'), repository: githubRepository, branches: branchGlob }),
    z.strictObject({
      provider: z.literal('codecommit'),
      repository: codecommitRepository,
      branches: branchGlob,
    }),
  ]),
  spec,
});
