import policyFile from '../../policies/risk.json' with { type: 'json' };
import { specsEqual } from './spec.ts';
import type { DeploymentTrigger, Environment, RiskAssessment, RiskTerm, Spec, Tier } from './types.ts';

/**
 * Change risk, as policy-as-code: a deployment is scored before anything is provisioned, by the
 * points policies/risk.json gives each thing the change touches and each fact about it. Above the
 * policy's threshold it needs an approval. The score is explainable: every term with its points and
 * why is recorded with the deployment.
 */

/** policies/risk.json: data, not code; its shape is checked when Kiln is compiled. */
export interface RiskPolicy {
  /** Recorded with every score, so a score can be traced to the policy that made it. */
  version: string;
  /** Scores above it need an approval. */
  threshold: number;
  /** Per instance the new stack launches (an instance in a pool of interchangeable instances). */
  instance: number;
  /** A load balancer's routing that changes (every deployment moves traffic). */
  routing: number;
  /** Per resource an environment declares it depends on, by kind and tier (e.g. a production data store). */
  resources: Record<string, Record<Tier, number>>;
  /** A resource declared `critical` counts this many times. */
  criticalMultiplier: number;
  tier: Record<Tier, number>;
  strategy: Record<Spec['strategy']['type'], number>;
  /** A stack of `largeFrom` instances or more adds `points`. */
  size: { largeFrom: number; points: number };
  /** The kind of change, against what is live: a new artifact or version, env, capacity, anything else, a rollback. */
  change: Record<ChangeKind, number>;
  /** A deployment that breaks the glass of a freeze: an emergency change, high risk by definition. */
  breakGlass: number;
  /** Triggers whose deployments never wait for an approval (their score is still recorded). */
  autoApprove: string[];
}

export type ChangeKind = 'new-artifact' | 'env' | 'capacity' | 'other' | 'rollback';

/** The policy in the repository, bundled with the functions that score. */
export const RISK_POLICY: RiskPolicy = policyFile satisfies RiskPolicy;

/** What a deployment's score is computed from. */
export interface ChangeFacts {
  environment: Pick<Environment, 'tier' | 'liveSpec' | 'resources'>;
  spec: Spec;
  trigger: DeploymentTrigger;
  /** Instances the deployment launches: none for a warm rollback, which returns to a running stack. */
  launches: number;
  /** It passes a freeze by breaking the glass. */
  breakGlass?: boolean;
}

export function assessRisk(policy: RiskPolicy, facts: ChangeFacts): RiskAssessment {
  const { environment, spec } = facts;
  const { tier } = environment;
  const terms: RiskTerm[] = [
    term(`instances`, facts.launches * policy.instance, `${facts.launches} instance(s) launched`),
    term('routing', policy.routing, 'the load balancer moves traffic to the new stack'),
    ...(environment.resources ?? []).map((resource) => {
      const points =
        (policy.resources[resource.kind]?.[tier] ?? 0) * (resource.critical ? policy.criticalMultiplier : 1);
      const critical = resource.critical ? `, critical (×${policy.criticalMultiplier})` : '';
      return term(
        `resource ${resource.kind} ${resource.name}`,
        points,
        `a ${tier} ${resource.kind}${critical}`,
      );
    }),
    term(`tier ${tier}`, policy.tier[tier], `a ${tier} environment`),
    term(
      `strategy ${spec.strategy.type}`,
      policy.strategy[spec.strategy.type],
      `deployed ${spec.strategy.type}`,
    ),
    ...(spec.capacity >= policy.size.largeFrom
      ? [term('size', policy.size.points, `${spec.capacity} instances (large from ${policy.size.largeFrom})`)]
      : []),
    ...changeKinds(facts).map((kind) => term(`change ${kind}`, policy.change[kind], CHANGE_WHY[kind])),
    ...(facts.breakGlass ? [term('break-glass', policy.breakGlass, 'it passes a freeze window')] : []),
  ].filter((t) => t.points !== 0);
  const score = terms.reduce((sum, t) => sum + t.points, 0);
  return {
    score,
    threshold: policy.threshold,
    needsApproval: score > policy.threshold && !policy.autoApprove.includes(facts.trigger),
    policyVersion: policy.version,
    terms,
  };
}

const CHANGE_WHY: Record<ChangeKind, string> = {
  'new-artifact': 'a new artifact or version',
  env: 'its environment variables change',
  capacity: 'its capacity changes',
  other: 'its health check, strategy, drain or hooks change',
  rollback: 'a rollback to the previous spec',
};

/** How the spec differs from what is live (nothing live: a new artifact). */
function changeKinds({ environment, spec, trigger }: ChangeFacts): ChangeKind[] {
  if (trigger === 'rollback') return ['rollback'];
  const live = environment.liveSpec;
  if (!live) return ['new-artifact'];
  const kinds: ChangeKind[] = [];
  if (live.artifact !== spec.artifact || live.version !== spec.version) kinds.push('new-artifact');
  if (!specsEqual({ ...live, env: spec.env }, live)) kinds.push('env');
  if (live.capacity !== spec.capacity) kinds.push('capacity');
  const rest = (s: Spec) => ({ ...s, artifact: '', version: '', env: {}, capacity: 0 });
  if (!specsEqual(rest(live), rest(spec))) kinds.push('other');
  return kinds;
}

function term(name: string, points: number, why: string): RiskTerm {
  return { term: name, points, why };
}
