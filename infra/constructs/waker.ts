import { Stack } from 'aws-cdk-lib';
import {
  ApplicationTargetGroup,
  type IApplicationLoadBalancerTarget,
  type IApplicationTargetGroup,
  type LoadBalancerTargetProps,
  TargetType,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { type EntryPoint, wakerOf } from '../../functions/manifest.ts';

/** Longest target group name ELB takes. */
const TARGET_GROUP_NAME_LIMIT = 32;

export interface KilnWakerProps {
  /** The entry points, one of which is the waker (the manifest's unless a test gives its own). */
  entries?: readonly EntryPoint[];
}

/**
 * The waker's Lambda target group: the listener rule of a sleeping environment forwards to it (the
 * traffic adapter's parkEndpoint), so a request wakes the environment. One group shared by every
 * environment, made here rather than at run time. It carries neither Kiln's tags nor a `kiln-` name:
 * Kiln's runtime IAM and its stack clean-up only touch target groups with both, and the orphan reaper
 * finds resources by those tags, so none of them can delete it. Its function is registered once the
 * function exists (`bindTarget`).
 */
export class KilnWaker extends Construct {
  readonly entry: EntryPoint;
  readonly targetGroup: ApplicationTargetGroup;
  readonly #targetGroupName: string;

  constructor(scope: Construct, id: string, props: KilnWakerProps = {}) {
    super(scope, id);
    this.entry = wakerOf(props.entries);
    // Named, so the invoke permission can name the group without depending on it (see WakerTarget).
    this.#targetGroupName = `waker-${Stack.of(this).stackName}`
      .slice(0, TARGET_GROUP_NAME_LIMIT)
      .replace(/-+$/, '');
    this.targetGroup = new ApplicationTargetGroup(this, 'TargetGroup', {
      targetType: TargetType.LAMBDA,
      targetGroupName: this.#targetGroupName,
    });
  }

  /** Registers the waker's function as the group's target, invocable by this group only. */
  bindTarget(functions: ReadonlyMap<string, IFunction>): void {
    const fn = functions.get(this.entry.name);
    if (!fn) throw new Error(`no function for entry point ${this.entry.name}`);
    const stack = Stack.of(this);
    this.targetGroup.addTarget(
      new WakerTarget(
        fn,
        stack.formatArn({
          service: 'elasticloadbalancing',
          resource: 'targetgroup',
          resourceName: `${this.#targetGroupName}/*`,
        }),
      ),
    );
  }
}

/**
 * A Lambda target whose invoke permission is scoped to its target group, by ARN and account. CDK's
 * LambdaTarget lets any load balancer invoke the function: it cannot name the group, because the group
 * registers the function only once the permission exists (the group depends on it). The group's name
 * is known at synth, so its ARN is too, with `*` for the id ELB gives it.
 */
class WakerTarget implements IApplicationLoadBalancerTarget {
  readonly #fn: IFunction;
  readonly #targetGroupArns: string;

  constructor(fn: IFunction, targetGroupArns: string) {
    this.#fn = fn;
    this.#targetGroupArns = targetGroupArns;
  }

  attachToApplicationTargetGroup(targetGroup: IApplicationTargetGroup): LoadBalancerTargetProps {
    const id = 'InvokeFromWakerTargetGroup';
    this.#fn.addPermission(id, {
      principal: new ServicePrincipal('elasticloadbalancing.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceArn: this.#targetGroupArns,
      sourceAccount: Stack.of(targetGroup).account,
    });
    targetGroup.node.addDependency(this.#fn.node.findChild(id));
    return { targetType: TargetType.LAMBDA, targetJson: { id: this.#fn.functionArn } };
  }
}
