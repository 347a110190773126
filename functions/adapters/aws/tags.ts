/**
 * Tags on every AWS resource Kiln creates (instances, volumes, target groups, listener rules).
 * IAM allows Kiln's mutating EC2/ELB calls only on resources carrying MANAGED_TAG (and RunInstances /
 * CreateTargetGroup / CreateRule only when the request sets it), and the orphan reaper finds
 * resources by these tags.
 */
export const MANAGED_TAG = { key: 'kiln:managed', value: 'true' } as const;
export const ENVIRONMENT_TAG = 'kiln:environment';
export const STACK_TAG = 'kiln:stack-id';
export const DEPLOYMENT_TAG = 'kiln:deployment-id';
