import { createHash } from 'node:crypto';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  type Action,
  CreateRuleCommand,
  type CreateRuleCommandInput,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  paginateDescribeRules,
  paginateDescribeTargetGroups,
  RegisterTargetsCommand,
  type Rule,
  SetRulePrioritiesCommand,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TrafficWeights } from '../../core/blue-green.ts';
import type { TargetHealth } from '../../core/health.ts';
import { type Clock, systemClock } from '../../core/ports/clock.ts';
import {
  type StackMetrics,
  TEST_STACK_HEADER,
  type Traffic,
  type TrafficRegistrations,
} from '../../core/ports/traffic.ts';
import type { HealthCheck, Instance } from '../../core/types.ts';
import { latestRequestMinute, targetGroupMetrics } from './alb-request-counts.ts';
import { ignoringAwsErrors, isAwsError } from './aws-errors.ts';
import { realSleep, retry, type Sleep } from './retry.ts';
import { ENVIRONMENT_TAG, kilnTags, MANAGED_TAG, STACK_TAG } from './tags.ts';

export interface ElbTrafficOptions {
  client: ElasticLoadBalancingV2Client;
  /** Where the ALB's request counts are read (lastRequestAt). */
  cloudWatch: CloudWatchClient;
  /** The shared ALB listener on which every environment gets one host-header rule. */
  listenerArn: string;
  /** VPC of the instances, where target groups are made. */
  vpcId: string;
  /** Environments are served at `http://<environment>.<endpointDomain>` (a wildcard DNS record points at the ALB). */
  endpointDomain: string;
  /** Port the artifact listens on: where target groups send traffic and health checks. */
  instancePort: number;
  /**
   * The waker's Lambda target group (made by the CDK app, shared by every environment): a parked rule
   * forwards to it. Kiln never deletes it.
   */
  wakerTargetGroupArn: string;
  sleep?: Sleep;
  clock?: Clock;
}

/** One target group of an environment's forward action, and the stack it serves when Kiln made it. */
interface Route {
  targetGroupArn: string;
  weight: number;
  stackId?: string;
}

type Tags = ReadonlyMap<string, string>;

/** What a new rule is: its conditions, action and tags (its priority is the smallest free one). */
type RuleDefinition = Required<Pick<CreateRuleCommandInput, 'Conditions' | 'Actions' | 'Tags'>>;

/** Every Kiln target group name starts with it, which narrows the search for an environment's leftovers. */
const TARGET_GROUP_PREFIX = 'kiln-';
const DESCRIBE_TAGS_LIMIT = 20;
const MAX_PRIORITY = 50_000;
const DEREGISTRATION_DELAY = 'deregistration_delay.timeout_seconds';
/** Healthy answers, as the embedded probe counts them: redirects answer too. */
const HEALTHY_CODES = '200-399';
const DRAINING_STATES = new Set(['draining', 'unhealthy.draining']);
/** Another environment may take the free priority between our read and our write: read again and retry. */
const PRIORITY_RETRY = { attempts: 5, firstDelayMs: 250, maxDelayMs: 2000 };
/** ELB may not see an instance as running the moment EC2 does (the two are eventually consistent). */
const REGISTER_RETRY = { attempts: 5, firstDelayMs: 1000, maxDelayMs: 8000 };
/**
 * What an ALB accepts for health checks. A spec may ask for less (the embedded proxy probes every
 * second); the target group gets the nearest setting the ALB allows, while Kiln's own health wait
 * (consecutive rounds within the deadline) still decides when a stack is healthy.
 */
const ALB_HEALTH_CHECK_LIMITS = {
  intervalSeconds: { min: 5, max: 300 },
  timeoutSeconds: { min: 2, max: 120 },
  healthyThreshold: { min: 2, max: 10 },
};

/** What an environment without a stack answers. */
const NO_STACK_ACTION: Action = {
  Type: 'fixed-response',
  FixedResponseConfig: {
    StatusCode: '503',
    ContentType: 'text/plain',
    MessageBody: 'No stack of this environment is receiving traffic',
  },
};

/**
 * AWS traffic: one shared ALB listener; each environment has a listener rule matching its host name
 * whose forward action weighs one target group per stack. An environment with no stack answers 503
 * (a fixed response). The ALB is the only record: rules and target groups are found by Kiln's tags
 * and target groups also by a name derived from the stack id, so every call can be retried.
 * One rule per environment: the listener's rule quota (100 by default) bounds the environments; a
 * stack's test route (see testEndpoint) adds one while its hooks run.
 */
export class ElbTraffic implements Traffic {
  readonly #client: ElasticLoadBalancingV2Client;
  readonly #options: ElbTrafficOptions;
  readonly #sleep: Sleep;
  readonly #clock: Clock;

  constructor(options: ElbTrafficOptions) {
    this.#client = options.client;
    this.#options = options;
    this.#sleep = options.sleep ?? realSleep;
    this.#clock = options.clock ?? systemClock;
  }

  async ensureEndpoint(environment: string): Promise<string> {
    await this.#ensureRule(environment);
    return `http://${this.#hostOf(environment)}`;
  }

  /** Creates the rule when needed, as the embedded proxy opens its endpoint on registration. */
  async registerStack(
    environment: string,
    stackId: string,
    instances: Instance[],
    healthCheck: HealthCheck,
  ): Promise<void> {
    const rule = await this.#ensureRule(environment);
    const targetGroupArn = await this.#createTargetGroup(environment, stackId, healthCheck);
    await this.#reconcileTargets(targetGroupArn, instances);
    const routes = forwardRoutes(rule);
    if (!routes.some((route) => route.targetGroupArn === targetGroupArn)) {
      await this.#route(rule, [...routes, { targetGroupArn, weight: 0 }]);
    }
  }

  /** Validates the whole split before changing anything, so a bad request changes nothing. */
  async setWeights(environment: string, weights: TrafficWeights): Promise<void> {
    const invalid = Object.values(weights).some(
      (weight) => !(Number.isInteger(weight) && weight >= 0 && weight <= 100),
    );
    if (invalid) {
      throw new Error(
        `cannot set weights in ${environment}: weights must be 0–100, got ${JSON.stringify(weights)}`,
      );
    }
    const rule = await this.#findRule(environment);
    const routes = rule ? await this.#stackRoutes(rule) : [];
    const unknown = Object.keys(weights).filter(
      (stackId) => !routes.some((route) => route.stackId === stackId),
    );
    if (unknown.length > 0) {
      throw new Error(`cannot set weights in ${environment}: stack(s) not registered: ${unknown.join(', ')}`);
    }
    if (!rule) return;
    await this.#route(
      rule,
      routes.map((route) =>
        route.stackId !== undefined && Object.hasOwn(weights, route.stackId)
          ? { ...route, weight: weights[route.stackId] as number }
          : route,
      ),
    );
  }

  async getWeights(environment: string): Promise<TrafficWeights> {
    const rule = await this.#findRule(environment);
    const routes = rule ? await this.#stackRoutes(rule) : [];
    return Object.fromEntries(
      routes.flatMap((route) => (route.stackId === undefined ? [] : [[route.stackId, route.weight]])),
    );
  }

  /**
   * The ALB's latest health checks of the stack's targets. Draining targets are leaving the stack (a
   * replaced instance) and are not reported; an unknown stack has no targets.
   */
  async probeHealth(_environment: string, stackId: string): Promise<TargetHealth[]> {
    const targetGroupArn = await this.#findTargetGroup(stackId);
    if (!targetGroupArn) return [];
    return (await this.#targets(targetGroupArn)).filter((target) => !isDraining(target)).map(toTargetHealth);
  }

  /**
   * Weight 0 and the test route deleted, then the targets deregistered with the spec's delay: the ALB lets
   * in-flight requests finish for drainSeconds, then cuts the rest itself. A stack without a target group
   * is drained already.
   */
  async startDrain(environment: string, stackId: string, drainSeconds: number): Promise<void> {
    const targetGroupArn = await this.#findTargetGroup(stackId);
    if (!targetGroupArn) return;
    await this.#client.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: targetGroupArn,
        Attributes: [{ Key: DEREGISTRATION_DELAY, Value: String(drainSeconds) }],
      }),
    );
    const { rule, testRule } = await this.#rulesOfStack(environment, stackId);
    const routes = rule ? forwardRoutes(rule) : [];
    if (rule && routes.some((route) => route.targetGroupArn === targetGroupArn && route.weight !== 0)) {
      await this.#route(
        rule,
        routes.map((route) => (route.targetGroupArn === targetGroupArn ? { ...route, weight: 0 } : route)),
      );
    }
    // The test route goes with the stack's traffic.
    if (testRule) await this.#deleteRule(testRule);
    const registered = (await this.#targets(targetGroupArn)).filter((target) => !isDraining(target));
    if (registered.length > 0) {
      await this.#client.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: targetGroupArn,
          Targets: registered.map((target) => ({ Id: targetIdOf(target) })),
        }),
      );
    }
  }

  /**
   * Once no target drains any more (or at once with `cutOff`: deleting the group ends what the ALB still
   * lets finish), the target group leaves the rule, its test route goes (both must, before the group can
   * be deleted), and it is deleted.
   */
  async finishDrain(
    environment: string,
    stackId: string,
    options: { cutOff?: boolean } = {},
  ): Promise<boolean> {
    const targetGroupArn = await this.#findTargetGroup(stackId);
    if (!targetGroupArn) return true;
    if (!options.cutOff && (await this.#targets(targetGroupArn)).some(isDraining)) return false;
    const { rule, testRule } = await this.#rulesOfStack(environment, stackId);
    if (testRule) await this.#deleteRule(testRule);
    const routes = rule ? forwardRoutes(rule) : [];
    if (rule && routes.some((route) => route.targetGroupArn === targetGroupArn)) {
      await this.#route(
        rule,
        routes.filter((route) => route.targetGroupArn !== targetGroupArn),
      );
    }
    await this.#deleteTargetGroup(targetGroupArn);
    return true;
  }

  /**
   * A rule on the environment's host that also matches `TEST_STACK_HEADER: <stackId>` and forwards to the
   * stack's target group alone: the URL is the environment's, and only requests carrying the header take
   * the test route. It must be evaluated before the environment's rule: it takes the smallest free
   * priority and, when that comes after the environment's rule, the two swap priorities in one
   * SetRulePriorities call (until then the environment's rule answers, as before). Found again by its
   * tags (the environment and the stack), so a rerun creates no second one and completes a swap.
   */
  async testEndpoint(environment: string, stackId: string): Promise<string> {
    const targetGroupArn = await this.#findTargetGroup(stackId);
    const rules = await this.#listRules();
    const tags = await this.#tagsOf(rules.map(arnOfRule));
    const rule = rules.find((candidate) => isEnvironmentRule(tags.get(arnOfRule(candidate)), environment));
    if (!targetGroupArn || !rule) {
      throw new Error(`no test endpoint for ${stackId}: it is not registered in ${environment}`);
    }
    const testRule =
      rules.find((candidate) => isTestRule(tags.get(arnOfRule(candidate)), environment, stackId)) ??
      (await this.#createAtFreePriority(
        {
          Conditions: [
            { Field: 'host-header', HostHeaderConfig: { Values: [this.#hostOf(environment)] } },
            {
              Field: 'http-header',
              HttpHeaderConfig: { HttpHeaderName: TEST_STACK_HEADER, Values: [stackId] },
            },
          ],
          Actions: [
            {
              Type: 'forward',
              ForwardConfig: { TargetGroups: [{ TargetGroupArn: targetGroupArn, Weight: 1 }] },
            },
          ],
          Tags: kilnTags({ environment, stackId }),
        },
        rules,
      ));
    const [testPriority, rulePriority] = [Number(testRule.Priority), Number(rule.Priority)];
    if (testPriority > rulePriority) {
      await this.#client.send(
        new SetRulePrioritiesCommand({
          RulePriorities: [
            { RuleArn: arnOfRule(testRule), Priority: rulePriority },
            { RuleArn: arnOfRule(rule), Priority: testPriority },
          ],
        }),
      );
    }
    return `http://${this.#hostOf(environment)}`;
  }

  /**
   * Deletes the environment's rules (its own and its stacks' test routes), then every Kiln target group
   * of the environment still there (found by tag).
   */
  async removeEndpoint(environment: string): Promise<void> {
    const rules = await this.#listRules();
    const tags = await this.#tagsOf(rules.map(arnOfRule));
    for (const rule of rules.filter((candidate) => ownedBy(tags.get(arnOfRule(candidate)), environment))) {
      await this.#deleteRule(rule);
    }
    for (const targetGroupArn of await this.#targetGroupsOf(environment)) {
      await this.#deleteTargetGroup(targetGroupArn);
    }
  }

  /**
   * The environments of the listener's rules tagged by Kiln, and the stacks of Kiln's target groups (in
   * the VPC, named after their stack, tagged with it), by the environment each is tagged with.
   */
  async listRegistrations(): Promise<TrafficRegistrations[]> {
    const found = new Map<string, TrafficRegistrations>();
    const of = (environment: string) => {
      const registrations = found.get(environment) ?? { environment, endpoint: false, stackIds: [] };
      found.set(environment, registrations);
      return registrations;
    };
    const rules = await this.#listRules();
    const ruleTags = await this.#tagsOf(rules.map(arnOfRule));
    for (const rule of rules) {
      const environment = managedTag(ruleTags.get(arnOfRule(rule)), ENVIRONMENT_TAG);
      if (environment !== undefined) of(environment).endpoint = true;
    }
    for (const [name, tags] of (await this.#kilnTargetGroups()).values()) {
      const environment = managedTag(tags, ENVIRONMENT_TAG);
      const stackId = managedTag(tags, STACK_TAG);
      // Only a group named after its stack is one finishDrain finds (by that name) and so can remove.
      if (environment !== undefined && stackId !== undefined && targetGroupName(stackId) === name) {
        of(environment).stackIds.push(stackId);
      }
    }
    return [...found.values()];
  }

  /**
   * The rule forwards to the waker's target group only, creating the rule if needed. A stack registered
   * afterwards joins the forward at weight 0 (the waker still answers); the first weight given to a stack
   * takes the waker off the rule (see #route).
   */
  async parkEndpoint(environment: string): Promise<void> {
    const rule = await this.#ensureRule(environment);
    const routes = forwardRoutes(rule);
    const parked = routes.length === 1 && routes[0]?.targetGroupArn === this.#options.wakerTargetGroupArn;
    if (!parked) await this.#route(rule, [{ targetGroupArn: this.#options.wakerTargetGroupArn, weight: 1 }]);
  }

  /**
   * The latest minute the ALB counted requests to the target groups of the environment's rule (see
   * latestRequestMinute). The waker's shared target group is not counted: a request to a sleeping
   * environment wakes it.
   */
  async lastRequestAt(environment: string, since: string): Promise<string | undefined> {
    const rule = await this.#findRule(environment);
    const targetGroupArns = (rule ? forwardRoutes(rule) : [])
      .map((route) => route.targetGroupArn)
      .filter((arn) => arn !== this.#options.wakerTargetGroupArn);
    return latestRequestMinute(this.#options.cloudWatch, {
      listenerArn: this.#options.listenerArn,
      targetGroupArns,
      since,
      now: this.#clock.now(),
    });
  }

  /** The stack's target group's traffic since `since`, from CloudWatch (see targetGroupMetrics). */
  async stackMetrics(_environment: string, stackId: string, since: string): Promise<StackMetrics> {
    const targetGroupArn = await this.#findTargetGroup(stackId);
    if (!targetGroupArn) return { requests: 0, errors: 0 };
    return targetGroupMetrics(this.#options.cloudWatch, {
      listenerArn: this.#options.listenerArn,
      targetGroupArn,
      since,
      now: this.#clock.now(),
    });
  }

  #hostOf(environment: string): string {
    return `${environment}.${this.#options.endpointDomain}`;
  }

  async #ensureRule(environment: string): Promise<Rule> {
    const rules = await this.#listRules();
    const existing = await this.#ruleOf(environment, rules);
    if (existing) return existing;
    return this.#createAtFreePriority(
      {
        Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [this.#hostOf(environment)] } }],
        Actions: [NO_STACK_ACTION],
        Tags: kilnTags({ environment }),
      },
      rules,
    );
  }

  /**
   * Creates the rule at the smallest free priority of `rules`; when another rule took that priority
   * first, reads the rules again and takes the next one.
   */
  async #createAtFreePriority(definition: RuleDefinition, rules: Rule[]): Promise<Rule> {
    return retry((attempt) => this.#createRule(definition, attempt === 0 ? rules : undefined), {
      ...PRIORITY_RETRY,
      isRetryable: (error) => isAwsError(error, ['PriorityInUseException']),
      sleep: this.#sleep,
    });
  }

  /** Creates the rule at the smallest free priority of `rules` (read afresh when not given). */
  async #createRule(definition: RuleDefinition, rules?: Rule[]): Promise<Rule> {
    const { Rules } = await this.#client.send(
      new CreateRuleCommand({
        ListenerArn: this.#options.listenerArn,
        Priority: smallestFreePriority(rules ?? (await this.#listRules())),
        ...definition,
      }),
    );
    const rule = Rules?.[0];
    const owner = definition.Tags.filter((tag) => tag.Key !== MANAGED_TAG.key)
      .map((tag) => tag.Value)
      .join(' ');
    if (!rule) throw new Error(`CreateRule answered without a rule for ${owner}`);
    return rule;
  }

  async #deleteRule(rule: Rule): Promise<void> {
    await ignoringAwsErrors(['RuleNotFoundException'], () =>
      this.#client.send(new DeleteRuleCommand({ RuleArn: arnOfRule(rule) })),
    );
  }

  /** The environment's rule and the stack's test rule, when they exist. */
  async #rulesOfStack(environment: string, stackId: string): Promise<{ rule?: Rule; testRule?: Rule }> {
    const rules = await this.#listRules();
    const tags = await this.#tagsOf(rules.map(arnOfRule));
    const rule = rules.find((candidate) => isEnvironmentRule(tags.get(arnOfRule(candidate)), environment));
    const testRule = rules.find((candidate) =>
      isTestRule(tags.get(arnOfRule(candidate)), environment, stackId),
    );
    return { ...(rule ? { rule } : {}), ...(testRule ? { testRule } : {}) };
  }

  async #findRule(environment: string): Promise<Rule | undefined> {
    return this.#ruleOf(environment, await this.#listRules());
  }

  async #ruleOf(environment: string, rules: Rule[]): Promise<Rule | undefined> {
    const tags = await this.#tagsOf(rules.map(arnOfRule));
    return rules.find((rule) => isEnvironmentRule(tags.get(arnOfRule(rule)), environment));
  }

  /** The listener's rules but its default one. */
  async #listRules(): Promise<Rule[]> {
    const rules: Rule[] = [];
    for await (const page of paginateDescribeRules(
      { client: this.#client },
      { ListenerArn: this.#options.listenerArn },
    )) {
      rules.push(...(page.Rules ?? []).filter((rule) => !rule.IsDefault));
    }
    return rules;
  }

  /** The rule's routes with the stack each Kiln target group serves (read from its tags). */
  async #stackRoutes(rule: Rule): Promise<Route[]> {
    const routes = forwardRoutes(rule);
    const tags = await this.#tagsOf(routes.map((route) => route.targetGroupArn));
    return routes.map((route) => {
      const stackId = managedTag(tags.get(route.targetGroupArn), STACK_TAG);
      return stackId === undefined ? route : { ...route, stackId };
    });
  }

  /**
   * Rewrites the rule's action: forward by weight, or the 503 fixed response once no target group is
   * left. A parked rule's waker leaves the forward as soon as a stack has weight: it takes only what no
   * stack would.
   */
  async #route(rule: Rule, routes: Route[]): Promise<void> {
    const serving = routes.some(
      (route) => route.weight > 0 && route.targetGroupArn !== this.#options.wakerTargetGroupArn,
    );
    const forwarded = serving
      ? routes.filter((route) => route.targetGroupArn !== this.#options.wakerTargetGroupArn)
      : routes;
    const action: Action =
      forwarded.length === 0
        ? NO_STACK_ACTION
        : {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: forwarded.map(({ targetGroupArn, weight }) => ({
                TargetGroupArn: targetGroupArn,
                Weight: weight,
              })),
            },
          };
    await this.#client.send(new ModifyRuleCommand({ RuleArn: arnOfRule(rule), Actions: [action] }));
  }

  /**
   * CreateTargetGroup is idempotent: the same name with the same settings returns the existing group.
   * Every setting derives from the stack's immutable spec and the configuration, so a rerun matches.
   */
  async #createTargetGroup(environment: string, stackId: string, check: HealthCheck): Promise<string> {
    const { TargetGroups } = await this.#client.send(
      new CreateTargetGroupCommand({
        Name: targetGroupName(stackId),
        Protocol: 'HTTP',
        Port: this.#options.instancePort,
        VpcId: this.#options.vpcId,
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPath: check.path,
        ...albHealthCheck(check),
        Matcher: { HttpCode: HEALTHY_CODES },
        Tags: kilnTags({ environment, stackId }),
      }),
    );
    const targetGroupArn = TargetGroups?.[0]?.TargetGroupArn;
    if (!targetGroupArn) throw new Error(`CreateTargetGroup answered without a target group for ${stackId}`);
    return targetGroupArn;
  }

  /** The stack's target group, found by its derived name; undefined once it is gone. */
  async #findTargetGroup(stackId: string): Promise<string | undefined> {
    const found = await ignoringAwsErrors(['TargetGroupNotFoundException'], () =>
      this.#client.send(new DescribeTargetGroupsCommand({ Names: [targetGroupName(stackId)] })),
    );
    return found?.TargetGroups?.[0]?.TargetGroupArn;
  }

  /** Kiln's target groups of the environment: in the VPC, named like Kiln's, tagged with the environment. */
  async #targetGroupsOf(environment: string): Promise<string[]> {
    return [...(await this.#kilnTargetGroups())]
      .filter(([, [, tags]]) => ownedBy(tags, environment))
      .map(([arn]) => arn);
  }

  /** The target groups in the VPC named like Kiln's: ARN → [name, tags]. */
  async #kilnTargetGroups(): Promise<Map<string, [string, Tags | undefined]>> {
    const candidates = new Map<string, string>();
    for await (const page of paginateDescribeTargetGroups({ client: this.#client }, {})) {
      for (const group of page.TargetGroups ?? []) {
        if (
          group.TargetGroupArn &&
          group.VpcId === this.#options.vpcId &&
          group.TargetGroupName?.startsWith(TARGET_GROUP_PREFIX)
        ) {
          candidates.set(group.TargetGroupArn, group.TargetGroupName);
        }
      }
    }
    const tags = await this.#tagsOf([...candidates.keys()]);
    return new Map([...candidates].map(([arn, name]) => [arn, [name, tags.get(arn)]]));
  }

  async #deleteTargetGroup(targetGroupArn: string): Promise<void> {
    await ignoringAwsErrors(['TargetGroupNotFoundException'], () =>
      this.#client.send(new DeleteTargetGroupCommand({ TargetGroupArn: targetGroupArn })),
    );
  }

  /** Registers the stack's live instances and deregisters any other target (an instance since replaced). */
  async #reconcileTargets(targetGroupArn: string, instances: Instance[]): Promise<void> {
    const wanted = instances
      .filter((instance) => instance.state === 'pending' || instance.state === 'running')
      .map((instance) => instance.id);
    const stale = (await this.#targets(targetGroupArn))
      .filter((target) => !isDraining(target) && !wanted.includes(targetIdOf(target)))
      .map(targetIdOf);
    if (wanted.length > 0) {
      await retry(
        () =>
          this.#client.send(
            new RegisterTargetsCommand({
              TargetGroupArn: targetGroupArn,
              Targets: wanted.map((Id) => ({ Id })),
            }),
          ),
        {
          ...REGISTER_RETRY,
          isRetryable: (error) => isAwsError(error, ['InvalidTargetException']),
          sleep: this.#sleep,
        },
      );
    }
    if (stale.length > 0) {
      await this.#client.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: targetGroupArn,
          Targets: stale.map((Id) => ({ Id })),
        }),
      );
    }
  }

  async #targets(targetGroupArn: string): Promise<TargetHealthDescription[]> {
    const { TargetHealthDescriptions } = await this.#client.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }),
    );
    return TargetHealthDescriptions ?? [];
  }

  /** Tags of each resource, DescribeTags taking at most 20 resources per call. */
  async #tagsOf(arns: string[]): Promise<Map<string, Tags>> {
    const tags = new Map<string, Tags>();
    for (let start = 0; start < arns.length; start += DESCRIBE_TAGS_LIMIT) {
      const { TagDescriptions } = await this.#client.send(
        new DescribeTagsCommand({ ResourceArns: arns.slice(start, start + DESCRIBE_TAGS_LIMIT) }),
      );
      for (const { ResourceArn, Tags: resourceTags } of TagDescriptions ?? []) {
        if (!ResourceArn) continue;
        tags.set(ResourceArn, new Map((resourceTags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])));
      }
    }
    return tags;
  }
}

/**
 * Target group names are at most 32 characters and unique per account and region: `kiln-` and 16 hex
 * characters of the stack id's SHA-256, the same for every call about the stack. The stack id itself
 * is in the group's tags.
 */
export function targetGroupName(stackId: string): string {
  return `${TARGET_GROUP_PREFIX}${createHash('sha256').update(stackId).digest('hex').slice(0, 16)}`;
}

/** The spec's health check within the ALB's limits; the timeout must also stay below the interval. */
export function albHealthCheck(check: HealthCheck) {
  const { intervalSeconds, timeoutSeconds, healthyThreshold } = ALB_HEALTH_CHECK_LIMITS;
  const interval = clamp(check.intervalSeconds, intervalSeconds);
  return {
    HealthCheckIntervalSeconds: interval,
    HealthCheckTimeoutSeconds: Math.min(clamp(check.timeoutSeconds, timeoutSeconds), interval - 1),
    HealthyThresholdCount: clamp(check.healthyThreshold, healthyThreshold),
  };
}

function clamp(value: number, { min, max }: { min: number; max: number }): number {
  return Math.min(Math.max(value, min), max);
}

function smallestFreePriority(rules: Rule[]): number {
  const taken = new Set(rules.map((rule) => Number(rule.Priority)));
  for (let priority = 1; priority <= MAX_PRIORITY; priority++) {
    if (!taken.has(priority)) return priority;
  }
  throw new Error('the listener has no free rule priority left');
}

/** The rule's weighted target groups; none while it answers with the fixed response. */
function forwardRoutes(rule: Rule): Route[] {
  const forward = rule.Actions?.find((action) => action.Type === 'forward');
  if (!forward) return [];
  const groups =
    forward.ForwardConfig?.TargetGroups ??
    (forward.TargetGroupArn ? [{ TargetGroupArn: forward.TargetGroupArn, Weight: 1 }] : []);
  return groups.flatMap((group) =>
    group.TargetGroupArn ? [{ targetGroupArn: group.TargetGroupArn, weight: group.Weight ?? 1 }] : [],
  );
}

function ownedBy(tags: Tags | undefined, environment: string): boolean {
  return managedTag(tags, ENVIRONMENT_TAG) === environment;
}

/** The value of the tag `key` on a resource tagged `kiln:managed`; undefined on any other resource. */
function managedTag(tags: Tags | undefined, key: string): string | undefined {
  return tags?.get(MANAGED_TAG.key) === MANAGED_TAG.value ? tags.get(key) : undefined;
}

/** The environment's own rule: tagged with the environment and no stack (a test route names its stack). */
function isEnvironmentRule(tags: Tags | undefined, environment: string): boolean {
  return ownedBy(tags, environment) && !tags?.has(STACK_TAG);
}

function isTestRule(tags: Tags | undefined, environment: string, stackId: string): boolean {
  return ownedBy(tags, environment) && tags?.get(STACK_TAG) === stackId;
}

function arnOfRule(rule: Rule): string {
  return rule.RuleArn ?? '';
}

function targetIdOf(target: TargetHealthDescription): string {
  return target.Target?.Id ?? '';
}

function isDraining(target: TargetHealthDescription): boolean {
  return DRAINING_STATES.has(target.TargetHealth?.State ?? '');
}

/** Healthy only when the ALB says so; otherwise the ALB's state, reason code and description. */
function toTargetHealth(target: TargetHealthDescription): TargetHealth {
  const state = target.TargetHealth?.State;
  if (state === 'healthy') return { instanceId: targetIdOf(target), healthy: true };
  const { Reason, Description } = target.TargetHealth ?? {};
  const reason = [state ?? 'unknown', Reason, Description].filter(Boolean).join(': ');
  return { instanceId: targetIdOf(target), healthy: false, reason };
}
