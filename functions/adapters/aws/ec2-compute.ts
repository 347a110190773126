import { createHash } from 'node:crypto';
import {
  type _InstanceType,
  type EC2Client,
  type Instance as Ec2Instance,
  type Filter,
  type InstanceStateName,
  paginateDescribeInstances,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { LaunchFailedError } from '../../core/errors.ts';
import type { Compute, StackTags, TaggedStack } from '../../core/ports/compute.ts';
import type { Instance, InstanceState, Spec } from '../../core/types.ts';
import { awsErrorCode, isAwsError } from './aws-errors.ts';
import { imageById, type LaunchableImage, resolveArtifactImage } from './ec2-images.ts';
import { realSleep, retry, type Sleep } from './retry.ts';
import { kilnTags, MANAGED_TAG, STACK_TAG } from './tags.ts';

export interface Ec2ComputeOptions {
  client: EC2Client;
  /** Launch template every instance starts from, at its `$Default` version (IAM profile, metadata options, ...). */
  launchTemplateId: string;
  /** Subnets the instances of a stack are spread over, slot by slot: one per AZ spreads a stack over AZs. */
  subnetIds: readonly string[];
  /** Security groups of the instances; empty keeps the launch template's. */
  securityGroupIds: readonly string[];
  /** Port the artifact listens on: handed to it as PORT, and part of every instance address. */
  instancePort: number;
  /** Instance type of specs that name none. */
  defaultInstanceType: string;
  sleep?: Sleep;
}

/**
 * Which slot (0 … capacity-1) of its stack an instance fills. The slot picks the instance's subnet and
 * keys its launch token, so a replacement lands where the instance it replaces was.
 */
export const SLOT_TAG = 'kiln:slot';

/** Where the app's environment is written on the instance (see `userDataScript`). */
const APP_ENV_DIR = '/etc/kiln';
export const APP_ENV_FILE = `${APP_ENV_DIR}/app.env`;

/**
 * Launch errors worth another attempt: rate limits, and capacity AWS lacks at the moment (it asks callers
 * to retry later). Quotas (`InstanceLimitExceeded`, `VcpuLimitExceeded`) are not retried: they hold until
 * someone raises them, so they fail the launch at once, as do bad requests (`InvalidAMIID.NotFound`, ...).
 * Server faults are left to the SDK's own retries.
 */
export const TRANSIENT_LAUNCH_ERRORS = [
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
] as const;

/**
 * 5 attempts, 1 + 2 + 4 + 8 s apart: ~15 s per instance. A launch cut short by ProvisionStack's timeout
 * runs again and continues where it stopped (see `launchToken`).
 */
const LAUNCH_RETRY = { attempts: 5, firstDelayMs: 1000, maxDelayMs: 8000 };
/** EC2 refuses user data above 16 KB (before base64). */
const USER_DATA_LIMIT_BYTES = 16 * 1024;
/** Names that are safe as shell variable assignments in the environment file. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LIVE_STATES: readonly InstanceStateName[] = ['pending', 'running'];
/** Instances that are not terminated nor on their way there: what a stack still holds. */
const NOT_ENDING_STATES: readonly InstanceStateName[] = ['pending', 'running', 'stopping', 'stopped'];
const INSTANCE_STATES: Record<InstanceStateName, InstanceState> = {
  pending: 'pending',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopping',
  'shutting-down': 'stopping',
  terminated: 'terminated',
};

/**
 * AWS compute: a stack is EC2 instances launched from a launch template, one `RunInstances` per slot
 * with the spec's image (an AMI id, or the newest AMI of an image family at the spec's version: see
 * ec2-images.ts), its root volume encrypted, and the spec's instance type, each instance and its volumes
 * tagged with the environment, stack and deployment. EC2 is the only record (the tags, and the image each
 * instance runs): every call reads it afresh and acts on the difference, so any call can be retried. The
 * launch template must not define network interfaces (Kiln sets the subnet per instance) nor block
 * devices (Kiln maps each image's own root device).
 */
export class Ec2Compute implements Compute {
  readonly #client: EC2Client;
  readonly #options: Ec2ComputeOptions;
  readonly #sleep: Sleep;

  constructor(options: Ec2ComputeOptions) {
    if (options.subnetIds.length === 0) throw new Error('Ec2Compute needs at least one subnet');
    this.#client = options.client;
    this.#options = options;
    this.#sleep = options.sleep ?? realSleep;
  }

  /**
   * Launches one instance per empty slot and returns the live instances at once, those just launched as
   * RunInstances answered them (pending: DescribeInstances may not show them yet). The image is settled
   * before anything launches: ArtifactNotReadyError (nothing launched) while the artifact has no image yet.
   */
  async launchStack(tags: StackTags, spec: Spec): Promise<Instance[]> {
    const reported = await this.#describe(tags.stackId);
    const slots = emptySlots(reported, spec.capacity);
    const launched: Ec2Instance[] = [];
    if (slots.length > 0) {
      const userData = encodeUserData(userDataScript(tags, spec, this.#options.instancePort));
      const image = await this.#imageToLaunch(tags.stackId, reported, spec);
      for (const slot of slots) {
        const input = this.#launchRequest(tags, spec, image, userData, slot, launchesInSlot(reported, slot));
        launched.push(await this.#launch(tags.stackId, input));
      }
    }
    return [...reported.filter(isLive), ...launched].map((i) => this.#toInstance(i));
  }

  async describeStack(stackId: string): Promise<Instance[]> {
    return (await this.#describe(stackId)).map((i) => this.#toInstance(i));
  }

  /** Terminates the instances not terminated nor shutting down yet, and returns at once. */
  async terminateStack(stackId: string): Promise<void> {
    const notYetTerminating = (await this.#describe(stackId))
      .filter((i) => stateOf(i) !== 'terminated' && stateOf(i) !== 'shutting-down')
      .map(idOf);
    if (notYetTerminating.length > 0) {
      await this.#client.send(new TerminateInstancesCommand({ InstanceIds: notYetTerminating }));
    }
  }

  /** Instances tagged `kiln:managed` and not ending (terminated or shutting down), grouped by their stack tag. */
  async listTaggedStacks(): Promise<TaggedStack[]> {
    const instances = await this.#describeInstances([
      { Name: `tag:${MANAGED_TAG.key}`, Values: [MANAGED_TAG.value] },
      { Name: 'instance-state-name', Values: [...NOT_ENDING_STATES] },
    ]);
    const stacks = new Map<string, TaggedStack>();
    for (const instance of instances) {
      const stackId = instance.Tags?.find((tag) => tag.Key === STACK_TAG)?.Value;
      if (!stackId) continue;
      const stack = stacks.get(stackId) ?? { stackId, instances: [] };
      stack.instances.push(this.#toInstance(instance));
      const launchedAt = instance.LaunchTime?.toISOString();
      if (launchedAt && (stack.launchedAt === undefined || launchedAt > stack.launchedAt)) {
        stack.launchedAt = launchedAt;
      }
      stacks.set(stackId, stack);
    }
    return [...stacks.values()];
  }

  /**
   * The image the stack's missing instances launch from. All instances of a stack run one image: once the
   * stack has instances (live ones, else those EC2 still reports), a top-up launches the image they run,
   * never a newer AMI of the family that appeared since. A new stack resolves the spec's artifact.
   */
  async #imageToLaunch(stackId: string, reported: Ec2Instance[], spec: Spec): Promise<LaunchableImage> {
    const running = imageOfStack(stackId, reported);
    if (running === undefined) return resolveArtifactImage(this.#client, spec.artifact, spec.version);
    return imageById(this.#client, running, `run by stack ${stackId}, whose new instances must run it too`);
  }

  /**
   * One instance for one slot. The client token makes a retried call (a task rerun after a timeout, before
   * DescribeInstances shows the first launch) return the instance already launched instead of a second
   * one. It counts the slot's earlier launches so that replacing a dead instance gets a new token: EC2
   * would otherwise answer with the dead instance.
   */
  #launchRequest(
    tags: StackTags,
    spec: Spec,
    image: LaunchableImage,
    userData: string,
    slot: number,
    earlierLaunches: number,
  ): RunInstancesCommandInput {
    const { launchTemplateId, subnetIds, securityGroupIds, defaultInstanceType } = this.#options;
    const resourceTags = [
      { Key: 'Name', Value: tags.stackId },
      ...kilnTags(tags),
      { Key: SLOT_TAG, Value: String(slot) },
    ];
    return {
      LaunchTemplate: { LaunchTemplateId: launchTemplateId, Version: '$Default' },
      ImageId: image.imageId,
      // The image's own root device, encrypted: the launch template maps no device, as root device names vary.
      BlockDeviceMappings: [image.rootVolume],
      // EC2 judges the type (an unknown one fails the launch); the SDK's list lags behind new types.
      InstanceType: (spec.instanceType ?? defaultInstanceType) as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnetIds[slot % subnetIds.length],
      ...(securityGroupIds.length > 0 ? { SecurityGroupIds: [...securityGroupIds] } : {}),
      UserData: userData,
      ClientToken: launchToken(tags.stackId, slot, earlierLaunches),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: resourceTags },
        { ResourceType: 'volume', Tags: resourceTags },
        { ResourceType: 'network-interface', Tags: resourceTags },
      ],
    };
  }

  /** RunInstances with backoff on transient errors; any failure becomes LaunchFailedError (the ASL catches it). */
  async #launch(stackId: string, input: RunInstancesCommandInput): Promise<Ec2Instance> {
    try {
      const { Instances } = await retry(() => this.#client.send(new RunInstancesCommand(input)), {
        ...LAUNCH_RETRY,
        isRetryable: isTransientLaunchError,
        sleep: this.#sleep,
      });
      const instance = Instances?.[0];
      if (!instance?.InstanceId) throw new Error('RunInstances answered without an instance');
      return instance;
    } catch (error) {
      const code = awsErrorCode(error);
      const why = isTransientLaunchError(error)
        ? `still failing after ${LAUNCH_RETRY.attempts} attempts`
        : 'not retryable';
      const reason = `${code ? `${code}: ` : ''}${(error as Error).message}`;
      throw new LaunchFailedError(`could not launch an instance of stack ${stackId} (${why}): ${reason}`, {
        cause: error,
      });
    }
  }

  /** Every instance tagged with the stack, terminated ones included while EC2 reports them, by slot. */
  async #describe(stackId: string): Promise<Ec2Instance[]> {
    const instances = await this.#describeInstances([{ Name: `tag:${STACK_TAG}`, Values: [stackId] }]);
    return instances.sort((a, b) => slotOf(a) - slotOf(b));
  }

  /** Every instance matching the filters, page after page. */
  async #describeInstances(filters: Filter[]): Promise<Ec2Instance[]> {
    const instances: Ec2Instance[] = [];
    for await (const page of paginateDescribeInstances({ client: this.#client }, { Filters: filters })) {
      for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    }
    return instances;
  }

  /** An instance without a private address (terminated ones lose it) has an empty address. */
  #toInstance(instance: Ec2Instance): Instance {
    const ip = instance.PrivateIpAddress;
    return {
      id: idOf(instance),
      address: ip ? `http://${ip}:${this.#options.instancePort}` : '',
      state: INSTANCE_STATES[stateOf(instance)],
    };
  }
}

export function isTransientLaunchError(error: unknown): boolean {
  return isAwsError(error, TRANSIENT_LAUNCH_ERRORS);
}

/**
 * The slots to launch: the lowest ones no live instance holds, as many as the stack lacks. Live instances
 * count toward capacity whatever their slot, so a stack never grows past its capacity.
 */
function emptySlots(reported: Ec2Instance[], capacity: number): number[] {
  const live = reported.filter(isLive);
  const held = new Set(live.map(slotOf));
  const free = Array.from({ length: capacity }, (_, slot) => slot).filter((slot) => !held.has(slot));
  return free.slice(0, Math.max(0, capacity - live.length));
}

/**
 * The image the stack's instances run (its live ones, else those EC2 still reports, terminated or not);
 * undefined for a stack without instances. LaunchFailedError if they run several: which one to add would
 * be a guess, and no launch of Kiln's makes such a stack.
 */
function imageOfStack(stackId: string, reported: Ec2Instance[]): string | undefined {
  const live = reported.filter(isLive);
  const images = new Set((live.length > 0 ? live : reported).flatMap((i) => (i.ImageId ? [i.ImageId] : [])));
  if (images.size > 1) {
    throw new LaunchFailedError(
      `instances of stack ${stackId} run different images (${[...images].join(', ')}): a stack runs one image, and Kiln will not guess which one to add`,
    );
  }
  return [...images][0];
}

function launchesInSlot(reported: Ec2Instance[], slot: number): number {
  return reported.filter((i) => slotOf(i) === slot).length;
}

/** EC2 keeps a client token for a while; 64 characters at most, hence a hash. */
function launchToken(stackId: string, slot: number, earlierLaunches: number): string {
  return createHash('sha256').update(`${stackId}/${slot}/${earlierLaunches}`).digest('hex');
}

/**
 * The instance's user data: a shell script that writes the app's environment (the spec's variables, then
 * APP_VERSION, PORT and the stack's identity, as embedded instances get them) to APP_ENV_FILE and does
 * nothing else. The AMI's service loads that file before starting the artifact; it is POSIX shell syntax
 * (`KEY='value'`), e.g. `set -a; . /etc/kiln/app.env; set +a`. The file travels base64-encoded, so no
 * value can break out of the script, and is readable by root only since values may be secrets (user data
 * itself is readable by whoever may call ec2:DescribeInstanceAttribute).
 */
export function userDataScript(tags: StackTags, spec: Spec, port: number): string {
  const variables: Record<string, string> = {
    ...spec.env,
    APP_VERSION: spec.version,
    PORT: String(port),
    KILN_ENVIRONMENT: tags.environment,
    KILN_STACK_ID: tags.stackId,
    KILN_DEPLOYMENT_ID: tags.deploymentId,
  };
  const invalid = Object.keys(variables).filter((name) => !VARIABLE_NAME.test(name));
  if (invalid.length > 0) {
    throw new LaunchFailedError(`invalid environment variable name(s): ${invalid.join(', ')}`);
  }
  const file = Object.entries(variables)
    .map(([name, value]) => `${name}=${shellQuote(value)}\n`)
    .join('');
  return [
    '#!/bin/sh',
    `# Written by Kiln: the app's environment for stack ${tags.stackId}, read by the AMI's service.`,
    'set -eu',
    'umask 077',
    `mkdir -p ${APP_ENV_DIR}`,
    `echo '${Buffer.from(file).toString('base64')}' | base64 -d > ${APP_ENV_FILE}`,
    '',
  ].join('\n');
}

/** Base64 for RunInstances; LaunchFailedError when EC2 would refuse the size (too many or too long env values). */
function encodeUserData(script: string): string {
  const bytes = Buffer.byteLength(script);
  if (bytes > USER_DATA_LIMIT_BYTES) {
    throw new LaunchFailedError(
      `the spec's environment makes ${bytes} bytes of user data; EC2 accepts at most ${USER_DATA_LIMIT_BYTES}`,
    );
  }
  return Buffer.from(script).toString('base64');
}

/** Single quotes keep everything literal, newlines included; a quote inside is closed, escaped, reopened. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function isLive(instance: Ec2Instance): boolean {
  return LIVE_STATES.includes(stateOf(instance));
}

function stateOf(instance: Ec2Instance): InstanceStateName {
  return instance.State?.Name ?? 'pending';
}

function idOf(instance: Ec2Instance): string {
  return instance.InstanceId ?? '';
}

/** -1 for an instance without a slot tag (not launched by Kiln's compute): it holds no slot. */
function slotOf(instance: Ec2Instance): number {
  const value = instance.Tags?.find((tag) => tag.Key === SLOT_TAG)?.Value;
  const slot = Number.parseInt(value ?? '', 10);
  return Number.isNaN(slot) ? -1 : slot;
}
