import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ApiResponse,
  awaitDeployment,
  call,
  type KilnProcess,
  quickCanaryBody,
  quickEnvironmentBody,
} from './kiln-process.ts';
import { LATE_MS, SteadyLoad } from './steady-load.ts';

/**
 * One phase of a delivery scenario: a request that starts a deployment, how it must end, and which
 * versions clients may get meanwhile and after.
 */
export interface Phase {
  /** Unique in its scenario: answers are counted under it. */
  name: string;
  /** The API request that starts it, answered 2xx with the `deploymentId` of the deployment it starts. */
  request: { method: 'PUT' | 'POST'; path: string; body?: unknown };
  /** How that deployment ends: its status and, where it has one, the name of its error. */
  outcome: { status: 'succeeded' | 'rolled_back'; error?: string };
  /** The versions that may answer while it runs; each must answer at least once in the phase. */
  during: string[];
  /** The version that alone answers once it has ended. */
  after: string;
  /**
   * A version deployed to answer 500 to some requests (`SAMPLE_ERROR_RATE`), for a canary's analysis to
   * judge. See ERROR_RULE: its stack's own 500s while the phase runs are the answers that judgement is
   * made of, counted apart; nothing else may answer 500.
   */
  erring?: string;
}

/** An environment deployed at `initialVersion`, then taken through `phases` in order under steady load. */
export interface Scenario {
  environment: string;
  initialVersion: string;
  phases: Phase[];
}

/** The rule by which answers count as failed, as the report applies it. */
export const ERROR_RULE =
  'a request fails when it gets no answer or any status but 200, except a 500 with the sample app’s own ' +
  'error body from the stack running the phase’s erring version, to a request sent while the phase’s ' +
  'deployment ran: that is the canary under judgement answering, and its share of the answers is what ' +
  'the analysis judges; a 500 from any other stack, or once the deployment has ended, is a failure';

/** Answers to the requests sent in one window of a phase, by version and status (`2.0.0 200`). */
export interface Tally {
  requests: number;
  byVersion: Map<string, number>;
  /** Failed requests by what they got (`502 {…}`, `0 fetch failed`). */
  failed: Map<string, number>;
}

export interface PhaseReport {
  name: string;
  /** The deployment the phase started, as GET /environments/{name}/deployments/{id} shows it at its end. */
  deployment: ApiResponse['body'];
  /** From the request that started it to the end of its `after` window. */
  seconds: number;
  /** Requests sent while its deployment ran, and in the AFTER_MS after it ended. */
  during: Tally;
  after: Tally;
  violations: string[];
}

export interface ScenarioReport {
  requestsPerSecond: number;
  /** How long requests were sent for. */
  seconds: number;
  /** Requests sent, and how many left more than LATE_MS after their scheduled time. */
  sent: number;
  late: number;
  phases: PhaseReport[];
  /** Every phase's violations, each naming its phase: empty when the scenario went as it should. */
  violations: string[];
}

/** How long a phase's `after` window lasts: the load keeps flowing, and only `after` may answer. */
export const AFTER_MS = 2000;

const ENVIRONMENT = 'delivery-dev';

/** The PUT that replaces the environment's desired state with `body`. */
function put(body: unknown): Phase['request'] {
  return { method: 'PUT', path: `/environments/${ENVIRONMENT}`, body };
}

/**
 * Issue 10's zero-failed-requests scenario, shared by test/e2e/delivery-under-load.test.ts (50 req/s)
 * and test/bench/delivery-under-load.ts (300 req/s): blue/green, a 3-step canary, a canary rolled back by
 * its analysis, a blue/green that keeps the replaced stack warm, and a warm rollback to it.
 */
export const DELIVERY_SCENARIO: Scenario = {
  environment: ENVIRONMENT,
  initialVersion: '1.0.0',
  phases: [
    {
      name: 'blue/green 1.0.0 → 2.0.0',
      request: put(quickEnvironmentBody('2.0.0')),
      outcome: { status: 'succeeded' },
      during: ['1.0.0', '2.0.0'],
      after: '2.0.0',
    },
    {
      name: 'canary 2.0.0 → 3.0.0',
      request: put(quickCanaryBody('3.0.0')),
      outcome: { status: 'succeeded' },
      during: ['2.0.0', '3.0.0'],
      after: '3.0.0',
    },
    {
      name: 'canary 3.0.0 → 4.0.0, rolled back by analysis',
      request: put(quickCanaryBody('4.0.0', { SAMPLE_ERROR_RATE: '0.5' })),
      outcome: { status: 'rolled_back', error: 'CanaryAnalysisFailedError' },
      during: ['3.0.0', '4.0.0'],
      after: '3.0.0',
      erring: '4.0.0',
    },
    {
      name: 'blue/green 3.0.0 → 5.0.0, 3.0.0 kept warm',
      request: put({ ...quickEnvironmentBody('5.0.0'), rollbackWindowSeconds: 600 }),
      outcome: { status: 'succeeded' },
      during: ['3.0.0', '5.0.0'],
      after: '5.0.0',
    },
    {
      name: 'warm rollback 5.0.0 → 3.0.0',
      request: {
        method: 'POST',
        path: `/environments/${ENVIRONMENT}/rollback`,
        body: { reason: 'the scenario rolls back' },
      },
      outcome: { status: 'succeeded' },
      during: ['5.0.0', '3.0.0'],
      after: '3.0.0',
    },
  ],
};

/**
 * From a rollback's request to the end of its cutover, as its record says (requestedAt, the CutOver step's
 * end): how long until traffic had moved back.
 */
export function trafficMovedMs(deployment: ApiResponse['body']): number {
  const cutOver = deployment.steps.find((step: { name: string }) => step.name === 'CutOver');
  return Date.parse(cutOver.endedAt) - Date.parse(deployment.requestedAt);
}

/**
 * Runs `scenario`'s phases in order on `kiln`, where its environment is live at its initial version, with
 * requests flowing through the environment's endpoint at `requestsPerSecond` from before the first phase
 * starts to the end of the last; counts every answer by the phase and window its request was sent in.
 * Throws only when a phase cannot start or its deployment does not end; everything else is reported.
 */
export async function runScenario(
  kiln: Pick<KilnProcess, 'apiUrl'>,
  scenario: Scenario,
  requestsPerSecond: number,
): Promise<ScenarioReport> {
  const { environment } = scenario;
  const endpoint = (await call(kiln, 'GET', `/environments/${environment}`)).body.endpoint as string;
  const load = new SteadyLoad(requestsPerSecond);
  const runs: { phase: Phase; deployment: ApiResponse['body']; seconds: number }[] = [];
  const started = performance.now();
  let seconds = 0;
  load.start(endpoint);
  try {
    for (const phase of scenario.phases) {
      const phaseStarted = performance.now();
      load.label = `${phase.name} during`;
      const response = await call(kiln, phase.request.method, phase.request.path, {
        body: phase.request.body,
      });
      if (response.status >= 300 || !response.body?.deploymentId) {
        throw new Error(
          `${phase.name}: ${phase.request.method} ${phase.request.path} answered ${response.status} ${JSON.stringify(response.body)}`,
        );
      }
      const deployment = await awaitDeployment(kiln, environment, response.body.deploymentId, 120_000);
      load.label = `${phase.name} after`;
      await sleep(AFTER_MS);
      runs.push({ phase, deployment, seconds: (performance.now() - phaseStarted) / 1000 });
    }
  } finally {
    seconds = (performance.now() - started) / 1000;
    await load.stop();
  }
  const stacks = (await call(kiln, 'GET', `/environments/${environment}/stacks`)).body.stacks as {
    stackId: string;
    version: string;
  }[];
  const versionOf = new Map(stacks.map((stack) => [stack.stackId, stack.version]));
  const phases = runs.map((run) => judgePhase(run, load, versionOf));
  return {
    requestsPerSecond,
    seconds,
    sent: load.sent,
    late: load.late,
    phases,
    violations: phases.flatMap((phase) => phase.violations.map((violation) => `${phase.name}: ${violation}`)),
  };
}

/** A phase's answers tallied by ERROR_RULE, and everything in them or its deployment it did not expect. */
function judgePhase(
  { phase, deployment, seconds }: { phase: Phase; deployment: ApiResponse['body']; seconds: number },
  load: SteadyLoad,
  versionOf: ReadonlyMap<string, string>,
): PhaseReport {
  const violations: string[] = [];
  if (deployment.status !== phase.outcome.status || deployment.error?.name !== phase.outcome.error) {
    violations.push(
      `expected ${phase.outcome.status}${phase.outcome.error ? ` (${phase.outcome.error})` : ''}, ` +
        `the deployment ended ${deployment.status}${deployment.error ? `: ${deployment.error.name}: ${deployment.error.message}` : ''}`,
    );
  }
  const tally = (window: 'during' | 'after', allowed: string[], erring?: string): Tally => {
    const counted: Tally = { requests: 0, byVersion: new Map(), failed: new Map() };
    for (const answer of load.answers.get(`${phase.name} ${window}`)?.values() ?? []) {
      counted.requests += answer.count;
      const stackVersion = versionOf.get(answer.stack);
      const served = /^sample-app (\S+)$/.exec(answer.body)?.[1];
      let version: string;
      if (answer.status === 200 && served) {
        version = served;
        if (served !== stackVersion) {
          violations.push(
            `${answer.count} answers naming ${served} came from ${answer.stack || 'no stack'}, which runs ${stackVersion}`,
          );
        }
      } else if (
        answer.status === 500 &&
        answer.body === 'sample-app failed' &&
        erring &&
        stackVersion === erring
      ) {
        version = erring;
      } else {
        const what = `${answer.status} ${answer.body}`;
        counted.failed.set(what, (counted.failed.get(what) ?? 0) + answer.count);
        continue;
      }
      const key = `${version} ${answer.status}`;
      counted.byVersion.set(key, (counted.byVersion.get(key) ?? 0) + answer.count);
      if (!allowed.includes(version))
        violations.push(`${version} answered ${answer.count} requests ${window} it`);
    }
    for (const [what, count] of counted.failed)
      violations.push(`${count} requests sent ${window} it failed: ${what}`);
    return counted;
  };
  const during = tally('during', phase.during, phase.erring);
  const after = tally('after', [phase.after]);
  const answered = new Set(
    [...during.byVersion.keys(), ...after.byVersion.keys()].map((key) => key.split(' ')[0]),
  );
  for (const version of phase.during) {
    if (!answered.has(version)) violations.push(`${version} never answered`);
  }
  return { name: phase.name, deployment, seconds, during, after, violations };
}

/** The report as the bench prints it: per phase and window, requests, answers by version and status, failures. */
export function formatReport(report: ScenarioReport): string {
  const header = ['phase', 'window', 'requests', 'answers (version status ×count)', 'failed'];
  const rows = report.phases.flatMap((phase) =>
    (['during', 'after'] as const).map((window) => {
      const tally = phase[window];
      const failed = [...tally.failed.values()].reduce((sum, count) => sum + count, 0);
      return [
        window === 'during'
          ? `${phase.name} (${phase.seconds.toFixed(1)} s, ${phase.deployment.status})`
          : '',
        window,
        String(tally.requests),
        [...tally.byVersion].map(([key, count]) => `${key} ×${count}`).join(', '),
        String(failed),
      ];
    }),
  );
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        [0, 1, 3].includes(column) ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
      )
      .join('  ')
      .trimEnd();
  const scheduled = Math.floor(report.seconds * report.requestsPerSecond);
  return [
    line(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...rows.map(line),
    '',
    `${report.requestsPerSecond} req/s for ${report.seconds.toFixed(1)} s: ${report.sent} requests sent of ${scheduled} ` +
      `scheduled, ${report.late} of them more than ${LATE_MS} ms late`,
    ...(report.violations.length > 0 ? ['', 'Violations:', ...report.violations.map((v) => `  ${v}`)] : []),
  ].join('\n');
}
