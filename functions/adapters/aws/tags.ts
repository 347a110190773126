/**
 * Tags on every AWS resource Kiln creates (instances, volumes, target groups, listener rules).
 * IAM allows Kiln's mutating EC2/ELB calls only on resources carrying MANAGED_TAG (and RunInstances /
 * CreateTargetGroup / CreateRule only when the request sets it), and the orphan reaper finds
 * resources by these tags.
 */
export const MANAGED_TAG = { key: 'kiln:managed', value: 'true' } as const;
/** The tag a team puts on a Lambda function to let Kiln's deployments invoke it as a verification hook. */
export const HOOK_TAG = { key: 'kiln:hook', value: 'true' } as const;
export const ENVIRONMENT_TAG = 'kiln:environment';
export const STACK_TAG = 'kiln:stack-id';
export const DEPLOYMENT_TAG = 'kiln:deployment-id';

/**
 * Tags the bake pipeline puts on each AMI it builds (Kiln only reads them): the image family, which a
 * spec names as its `artifact`, and the version built, which a spec names as its `version` (e.g. the full
 * commit SHA). Compute launches the newest AMI of the account carrying both (see ec2-images.ts).
 */
export const ARTIFACT_TAG = 'kiln:artifact';
export const VERSION_TAG = 'kiln:version';

/** Who a Kiln resource belongs to; the stack and deployment are absent on per-environment resources. */
export interface ResourceOwner {
  environment: string;
  stackId?: string;
  deploymentId?: string;
}

/** The tags of a resource Kiln creates, in the `{ Key, Value }` shape EC2 and ELB both take. */
export function kilnTags(owner: ResourceOwner): { Key: string; Value: string }[] {
  return [
    { Key: MANAGED_TAG.key, Value: MANAGED_TAG.value },
    { Key: ENVIRONMENT_TAG, Value: owner.environment },
    ...(owner.stackId === undefined ? [] : [{ Key: STACK_TAG, Value: owner.stackId }]),
    ...(owner.deploymentId === undefined ? [] : [{ Key: DEPLOYMENT_TAG, Value: owner.deploymentId }]),
  ];
}
