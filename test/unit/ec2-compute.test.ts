import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import {
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  EC2Client,
  EC2ServiceException,
  type Instance as Ec2Instance,
  type Image,
  type InstanceStateName,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { APP_ENV_FILE, Ec2Compute, SLOT_TAG } from '../../functions/adapters/aws/ec2-compute.ts';
import { ArtifactNotReadyError, LaunchFailedError } from '../../functions/core/errors.ts';
import type { StackTags } from '../../functions/core/ports/compute.ts';
import { sampleSpec } from '../support/specs.ts';

const ec2 = mockClient(EC2Client);
const tags: StackTags = {
  environment: 'checkout-dev',
  stackId: 'checkout-dev-v0003',
  deploymentId: 'd-0001',
};
const spec = sampleSpec({ artifact: 'ami-0123456789abcdef0', version: '2.4.1', capacity: 3 });
/** A push builds an image family at a commit: the AMI shows up once the bake pipeline is done. */
const COMMIT = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const familySpec = sampleSpec({ artifact: 'checkout', version: COMMIT, capacity: 1 });
const stackFilter = { Filters: [{ Name: 'tag:kiln:stack-id', Values: [tags.stackId] }] };
/** The root volume RunInstances asks for, for the images `amiImage` describes by default. */
const encryptedXvda = {
  DeviceName: '/dev/xvda',
  Ebs: {
    Encrypted: true,
    DeleteOnTermination: true,
    VolumeType: 'gp3',
    VolumeSize: 8,
    Iops: 3000,
    Throughput: 125,
  },
};
let sleeps: number[];

function newCompute(securityGroupIds: string[] = ['sg-app']): Ec2Compute {
  return new Ec2Compute({
    client: new EC2Client({ region: 'eu-west-1' }),
    launchTemplateId: 'lt-0kiln',
    subnetIds: ['subnet-a', 'subnet-b'],
    securityGroupIds,
    instancePort: 8080,
    defaultInstanceType: 't4g.small',
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

function ec2Instance(
  id: string,
  slot: number,
  state: InstanceStateName,
  ip = `10.0.0.${slot + 10}`,
  imageId = spec.artifact,
): Ec2Instance {
  return {
    InstanceId: id,
    ImageId: imageId,
    State: { Name: state },
    ...(state === 'terminated' ? {} : { PrivateIpAddress: ip }),
    Tags: [{ Key: SLOT_TAG, Value: String(slot) }],
  };
}

/** An available, EBS-backed AMI as DescribeImages reports it (Amazon Linux style: root on /dev/xvda, gp3). */
function amiImage(overrides: Partial<Image> = {}): Image {
  const rootDeviceName = overrides.RootDeviceName ?? '/dev/xvda';
  return {
    ImageId: spec.artifact,
    State: 'available',
    CreationDate: '2026-11-02T09:00:00.000Z',
    RootDeviceType: 'ebs',
    RootDeviceName: rootDeviceName,
    BlockDeviceMappings: [
      {
        DeviceName: rootDeviceName,
        Ebs: {
          SnapshotId: 'snap-0root',
          VolumeSize: 8,
          VolumeType: 'gp3',
          Iops: 3000,
          Throughput: 125,
          DeleteOnTermination: true,
          Encrypted: false,
        },
      },
    ],
    ...overrides,
  };
}

/** DescribeImages as EC2 answers it: by id, or by the owner and tag filters over `images`. */
function imagesInAccount(...images: Image[]): void {
  ec2.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
    if (input.ImageIds) {
      const found = images.filter((image) => input.ImageIds?.includes(image.ImageId ?? ''));
      if (found.length === 0)
        throw ec2Error('InvalidAMIID.NotFound', `The image id '[${input.ImageIds}]' does not exist`);
      return { Images: found };
    }
    const matches = (image: Image) =>
      (input.Filters ?? []).every(({ Name, Values }) => {
        const key = Name?.replace(/^tag:/, '');
        return image.Tags?.some((tag) => tag.Key === key && Values?.includes(tag.Value ?? ''));
      });
    return { Images: images.filter(matches) };
  });
}

function familyImage(imageId: string, creationDate: string, overrides: Partial<Image> = {}): Image {
  return amiImage({
    ImageId: imageId,
    CreationDate: creationDate,
    Tags: [
      { Key: 'kiln:artifact', Value: 'checkout' },
      { Key: 'kiln:version', Value: COMMIT },
    ],
    ...overrides,
  });
}

/** What each DescribeImages call sent (JSON drops the paginator's undefined NextToken and MaxResults). */
function imageCalls(): DescribeImagesCommandInput[] {
  return ec2
    .commandCalls(DescribeImagesCommand)
    .map((call) => JSON.parse(JSON.stringify(call.args[0].input)));
}

function reservations(...instances: Ec2Instance[]) {
  return { Reservations: [{ Instances: instances }] };
}

function ec2Error(name: string, message = `${name} happened`): EC2ServiceException {
  return new EC2ServiceException({ name, $fault: 'client', $metadata: {}, message });
}

function runInputs(): RunInstancesCommandInput[] {
  return ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
}

/** RunInstances answers with `i-<slot>`, pending at 10.0.0.1<slot>; the slot is read back from the request's tags. */
function launchBySlot(): void {
  ec2.on(RunInstancesCommand).callsFake((input: RunInstancesCommandInput) => {
    const slot = input.TagSpecifications?.[0]?.Tags?.find((tag) => tag.Key === SLOT_TAG)?.Value;
    return {
      Instances: [
        { InstanceId: `i-${slot}`, PrivateIpAddress: `10.0.0.1${slot}`, State: { Name: 'pending' } },
      ],
    };
  });
}

beforeEach(() => {
  ec2.reset();
  sleeps = [];
  imagesInAccount(amiImage());
});

describe('Ec2Compute.launchStack', () => {
  it('launches one instance per slot from the launch template, tagged on instance and volume', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations())
      .resolves(
        reservations(
          ec2Instance('i-0', 0, 'running'),
          ec2Instance('i-1', 1, 'running'),
          ec2Instance('i-2', 2, 'running'),
        ),
      );
    launchBySlot();

    const instances = await newCompute().launchStack(tags, spec);

    const inputs = runInputs();
    assert.equal(inputs.length, 3);
    const { UserData, ClientToken, ...rest } = inputs[0] as RunInstancesCommandInput;
    const resourceTags = [
      { Key: 'Name', Value: 'checkout-dev-v0003' },
      { Key: 'kiln:managed', Value: 'true' },
      { Key: 'kiln:environment', Value: 'checkout-dev' },
      { Key: 'kiln:stack-id', Value: 'checkout-dev-v0003' },
      { Key: 'kiln:deployment-id', Value: 'd-0001' },
      { Key: 'kiln:slot', Value: '0' },
    ];
    assert.deepEqual(rest, {
      LaunchTemplate: { LaunchTemplateId: 'lt-0kiln', Version: '$Default' },
      ImageId: 'ami-0123456789abcdef0',
      BlockDeviceMappings: [encryptedXvda],
      InstanceType: 't4g.small',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: 'subnet-a',
      SecurityGroupIds: ['sg-app'],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: resourceTags },
        { ResourceType: 'volume', Tags: resourceTags },
        { ResourceType: 'network-interface', Tags: resourceTags },
      ],
    });
    assert.match(ClientToken ?? '', /^[0-9a-f]{64}$/);
    assert.ok(UserData);
    assert.deepEqual(
      inputs.map((input) => input.SubnetId),
      ['subnet-a', 'subnet-b', 'subnet-a'],
      'slots take the subnets in turn',
    );
    assert.equal(new Set(inputs.map((input) => input.ClientToken)).size, 3, 'one client token per slot');
    assert.deepEqual(instances, [
      { id: 'i-0', address: 'http://10.0.0.10:8080', state: 'pending' },
      { id: 'i-1', address: 'http://10.0.0.11:8080', state: 'pending' },
      { id: 'i-2', address: 'http://10.0.0.12:8080', state: 'pending' },
    ]);
    assert.equal(ec2.commandCalls(DescribeInstancesCommand).length, 1, 'returns at once: the workflow waits');
    assert.deepEqual(sleeps, []);
  });

  it('describes the stack by its stack tag before launching', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations(ec2Instance('i-0', 0, 'running')));

    await newCompute().launchStack(tags, { ...spec, capacity: 1 });

    assert.deepEqual(
      ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters,
      stackFilter.Filters,
    );
  });

  it('uses the spec instance type and leaves security groups to the launch template when none are configured', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations())
      .resolves(reservations(ec2Instance('i-0', 0, 'running')));
    launchBySlot();

    await newCompute([]).launchStack(tags, { ...spec, capacity: 1, instanceType: 'c7g.large' });

    const [input] = runInputs();
    assert.equal(input?.InstanceType, 'c7g.large');
    assert.equal('SecurityGroupIds' in (input ?? {}), false);
  });

  it('keeps the live instances and launches only the missing slots', async () => {
    const before = reservations(ec2Instance('i-old0', 0, 'running'), ec2Instance('i-dead1', 1, 'terminated'));
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(before)
      .resolves(
        reservations(
          ec2Instance('i-old0', 0, 'running'),
          ec2Instance('i-dead1', 1, 'terminated'),
          ec2Instance('i-1', 1, 'running'),
        ),
      );
    launchBySlot();

    const instances = await newCompute().launchStack(tags, { ...spec, capacity: 2 });

    const inputs = runInputs();
    assert.equal(inputs.length, 1);
    assert.equal(inputs[0]?.SubnetId, 'subnet-b', 'the replacement lands in its slot subnet');
    assert.deepEqual(
      instances.map((instance) => instance.id),
      ['i-old0', 'i-1'],
    );
  });

  it('launches nothing when the stack already has its capacity, and returns its pending instances as they are', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves(reservations(ec2Instance('i-0', 0, 'running'), ec2Instance('i-1', 1, 'pending')));

    const instances = await newCompute().launchStack(tags, { ...spec, capacity: 2 });

    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
    assert.deepEqual(
      instances.map((instance) => instance.state),
      ['running', 'pending'],
    );
    assert.deepEqual(sleeps, []);
  });

  it('sends the same client token when a launch is retried before EC2 reports the first one', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    launchBySlot();
    const single = { ...spec, capacity: 1 };

    await newCompute().launchStack(tags, single);
    await newCompute().launchStack(tags, single);

    const [first, second] = runInputs();
    assert.equal(first?.ClientToken, second?.ClientToken);
  });

  it('gives a replacement a new client token, so EC2 does not answer with the dead instance', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations())
      .resolvesOnce(reservations(ec2Instance('i-0', 0, 'running')))
      .resolvesOnce(reservations(ec2Instance('i-0', 0, 'terminated')))
      .resolves(reservations(ec2Instance('i-0', 0, 'terminated'), ec2Instance('i-0b', 0, 'running')));
    ec2
      .on(RunInstancesCommand)
      .resolvesOnce({ Instances: [{ InstanceId: 'i-0' }] })
      .resolves({ Instances: [{ InstanceId: 'i-0b' }] });
    const single = { ...spec, capacity: 1 };

    await newCompute().launchStack(tags, single);
    await newCompute().launchStack(tags, single);

    const [first, replacement] = runInputs();
    assert.notEqual(first?.ClientToken, replacement?.ClientToken);
  });

  it('retries throttling and capacity errors with growing delays, then launches', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations())
      .resolves(reservations(ec2Instance('i-0', 0, 'running')));
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(ec2Error('RequestLimitExceeded'))
      .rejectsOnce(ec2Error('InsufficientInstanceCapacity'))
      .resolves({ Instances: [{ InstanceId: 'i-0' }] });

    const instances = await newCompute().launchStack(tags, { ...spec, capacity: 1 });

    const inputs = runInputs();
    assert.equal(inputs.length, 3);
    assert.equal(new Set(inputs.map((input) => input.ClientToken)).size, 1, 'retries reuse the token');
    assert.deepEqual(sleeps, [1000, 2000]);
    assert.equal(instances.length, 1);
  });

  it('surfaces LaunchFailedError with the cause once 5 attempts hit capacity errors', async () => {
    const capacity = ec2Error('InsufficientInstanceCapacity', 'We currently do not have sufficient capacity');
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    ec2.on(RunInstancesCommand).rejects(capacity);

    await assert.rejects(newCompute().launchStack(tags, { ...spec, capacity: 1 }), (error: Error) => {
      assert.ok(error instanceof LaunchFailedError);
      assert.equal(error.name, 'LaunchFailedError');
      assert.match(
        error.message,
        /checkout-dev-v0003 \(still failing after 5 attempts\): InsufficientInstanceCapacity/,
      );
      assert.equal(error.cause, capacity);
      return true;
    });
    assert.equal(runInputs().length, 5);
    assert.deepEqual(sleeps, [1000, 2000, 4000, 8000]);
  });

  it('fails at once with LaunchFailedError on an error no retry can fix', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    ec2
      .on(RunInstancesCommand)
      .rejects(ec2Error('InvalidAMIID.NotFound', "The image id '[ami-0123]' does not exist"));

    await assert.rejects(
      newCompute().launchStack(tags, { ...spec, capacity: 1 }),
      (error: Error) =>
        error instanceof LaunchFailedError &&
        /\(not retryable\): InvalidAMIID\.NotFound: The image id/.test(error.message),
    );
    assert.equal(runInputs().length, 1);
    assert.deepEqual(sleeps, []);
  });

  it('does not retry an exhausted quota', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    ec2.on(RunInstancesCommand).rejects(ec2Error('VcpuLimitExceeded'));

    await assert.rejects(newCompute().launchStack(tags, { ...spec, capacity: 1 }), LaunchFailedError);
    assert.equal(runInputs().length, 1);
  });
});

describe('Ec2Compute images', () => {
  /** A stack of `capacity` that has nothing yet, then runs what was launched. */
  function emptyStackThenRunning(...running: Ec2Instance[]): void {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations())
      .resolves(reservations(...running));
  }

  it('launches the newest available AMI of the account tagged with the family and the version', async () => {
    imagesInAccount(
      familyImage('ami-00000000000000001', '2026-11-01T10:00:00.000Z'),
      familyImage('ami-00000000000000003', '2026-11-03T10:00:00.000Z'),
      familyImage('ami-00000000000000002', '2026-11-02T10:00:00.000Z'),
      familyImage('ami-00000000000000004', '2026-11-04T10:00:00.000Z', { State: 'pending' }),
      familyImage('ami-00000000000000005', '2026-11-05T10:00:00.000Z', {
        Tags: [
          { Key: 'kiln:artifact', Value: 'checkout' },
          { Key: 'kiln:version', Value: 'another-commit' },
        ],
      }),
    );
    emptyStackThenRunning(ec2Instance('i-0', 0, 'running', undefined, 'ami-00000000000000003'));
    launchBySlot();

    await newCompute().launchStack(tags, familySpec);

    assert.deepEqual(imageCalls(), [
      {
        Owners: ['self'],
        Filters: [
          { Name: 'tag:kiln:artifact', Values: ['checkout'] },
          { Name: 'tag:kiln:version', Values: [COMMIT] },
        ],
      },
    ]);
    const [input] = runInputs();
    assert.equal(input?.ImageId, 'ami-00000000000000003');
    assert.deepEqual(input?.BlockDeviceMappings, [encryptedXvda]);
  });

  it('still launches an explicit AMI id, mapping its root device encrypted', async () => {
    emptyStackThenRunning(ec2Instance('i-0', 0, 'running'));
    launchBySlot();

    await newCompute().launchStack(tags, { ...spec, capacity: 1 });

    assert.deepEqual(imageCalls(), [{ ImageIds: ['ami-0123456789abcdef0'] }]);
    const [input] = runInputs();
    assert.equal(input?.ImageId, 'ami-0123456789abcdef0');
    assert.deepEqual(input?.BlockDeviceMappings, [encryptedXvda]);
  });

  it('launches an AMI whose root device is /dev/sda1 with exactly one mapping, for /dev/sda1, encrypted', async () => {
    imagesInAccount(
      amiImage({
        RootDeviceName: '/dev/sda1',
        BlockDeviceMappings: [
          { DeviceName: '/dev/sda1', Ebs: { SnapshotId: 'snap-0ubuntu', VolumeSize: 20, VolumeType: 'gp2' } },
          { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
        ],
      }),
    );
    emptyStackThenRunning(ec2Instance('i-0', 0, 'running'));
    launchBySlot();

    await newCompute().launchStack(tags, { ...spec, capacity: 1 });

    assert.deepEqual(runInputs()[0]?.BlockDeviceMappings, [
      {
        DeviceName: '/dev/sda1',
        // The image's size and type; no IOPS, which gp2 refuses.
        Ebs: { Encrypted: true, DeleteOnTermination: true, VolumeType: 'gp2', VolumeSize: 20 },
      },
    ]);
  });

  it('keeps the provisioned IOPS of an io2 root volume', async () => {
    imagesInAccount(
      amiImage({
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { VolumeSize: 30, VolumeType: 'io2', Iops: 6000, Encrypted: true },
          },
        ],
      }),
    );
    emptyStackThenRunning(ec2Instance('i-0', 0, 'running'));
    launchBySlot();

    await newCompute().launchStack(tags, { ...spec, capacity: 1 });

    assert.deepEqual(runInputs()[0]?.BlockDeviceMappings?.[0]?.Ebs, {
      Encrypted: true,
      DeleteOnTermination: true,
      VolumeType: 'io2',
      VolumeSize: 30,
      Iops: 6000,
    });
  });

  it('throws ArtifactNotReadyError naming the family, version and tags when no image has that version yet, launching nothing', async () => {
    imagesInAccount(
      familyImage('ami-00000000000000001', '2026-11-01T10:00:00.000Z', {
        Tags: [
          { Key: 'kiln:artifact', Value: 'checkout' },
          { Key: 'kiln:version', Value: 'an-older-commit' },
        ],
      }),
    );
    ec2.on(DescribeInstancesCommand).resolves(reservations());

    await assert.rejects(newCompute().launchStack(tags, familySpec), (error: Error) => {
      assert.ok(error instanceof ArtifactNotReadyError);
      assert.equal(error.name, 'ArtifactNotReadyError');
      assert.equal(
        error.message,
        `artifact checkout version ${COMMIT} has no image yet: no available AMI owned by this account is tagged kiln:artifact=checkout and kiln:version=${COMMIT}`,
      );
      return true;
    });
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('reads every page of the family lookup', async () => {
    ec2.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) =>
      input.NextToken === 'page-2'
        ? { Images: [familyImage('ami-00000000000000007', '2026-11-07T10:00:00.000Z')] }
        : {
            Images: [familyImage('ami-00000000000000003', '2026-11-03T10:00:00.000Z')],
            NextToken: 'page-2',
          },
    );
    emptyStackThenRunning(ec2Instance('i-0', 0, 'running', undefined, 'ami-00000000000000007'));
    launchBySlot();

    await newCompute().launchStack(tags, familySpec);

    assert.equal(imageCalls().length, 2);
    assert.equal(runInputs()[0]?.ImageId, 'ami-00000000000000007');
  });

  it('throws ArtifactNotReadyError while the only image of the version is still pending', async () => {
    imagesInAccount(familyImage('ami-00000000000000004', '2026-11-04T10:00:00.000Z', { State: 'pending' }));
    ec2.on(DescribeInstancesCommand).resolves(reservations());

    await assert.rejects(
      newCompute().launchStack(tags, familySpec),
      (error: Error) =>
        error instanceof ArtifactNotReadyError && /; ami-00000000000000004 is pending$/.test(error.message),
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('does not take a tag filter wildcard for the version', async () => {
    // EC2 reads `*` in a filter value as a wildcard (and answers with the image): tags must match exactly.
    ec2.on(DescribeImagesCommand).resolves({
      Images: [familyImage('ami-00000000000000001', '2026-11-01T10:00:00.000Z')],
    });
    ec2.on(DescribeInstancesCommand).resolves(reservations());

    await assert.rejects(
      newCompute().launchStack(tags, { ...familySpec, version: '9fce*' }),
      ArtifactNotReadyError,
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('fails with LaunchFailedError, launching nothing, when an explicit AMI does not exist', async () => {
    imagesInAccount();
    ec2.on(DescribeInstancesCommand).resolves(reservations());

    await assert.rejects(
      newCompute().launchStack(tags, { ...spec, capacity: 1 }),
      (error: Error) =>
        error instanceof LaunchFailedError &&
        /^image ami-0123456789abcdef0 \(the artifact, version 2\.4\.1\) was not found/.test(error.message),
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('throws ArtifactNotReadyError for an explicit AMI still being created', async () => {
    imagesInAccount(amiImage({ State: 'pending' }));
    ec2.on(DescribeInstancesCommand).resolves(reservations());

    await assert.rejects(
      newCompute().launchStack(tags, { ...spec, capacity: 1 }),
      (error: Error) =>
        error instanceof ArtifactNotReadyError &&
        error.message ===
          'image ami-0123456789abcdef0 (the artifact, version 2.4.1) is not available yet: it is still pending',
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('refuses an instance-store AMI, whose root volume it could not encrypt', async () => {
    imagesInAccount(amiImage({ RootDeviceType: 'instance-store', BlockDeviceMappings: [] }));
    ec2.on(DescribeInstancesCommand).resolves(reservations());

    await assert.rejects(
      newCompute().launchStack(tags, { ...spec, capacity: 1 }),
      (error: Error) => error instanceof LaunchFailedError && /EBS-backed images only/.test(error.message),
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('tops a stack up with the image its instances run, even after a newer AMI of the version appeared', async () => {
    const launchedWith = familyImage('ami-00000000000000003', '2026-11-03T10:00:00.000Z');
    const newer = familyImage('ami-00000000000000009', '2026-11-09T10:00:00.000Z', {
      RootDeviceName: '/dev/sda1',
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 16, VolumeType: 'gp3' } }],
    });
    imagesInAccount(launchedWith, newer);
    const running = (id: string, slot: number) =>
      ec2Instance(id, slot, 'running', undefined, 'ami-00000000000000003');
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(
        reservations(
          running('i-0', 0),
          ec2Instance('i-dead1', 1, 'terminated', undefined, 'ami-00000000000000003'),
          running('i-2', 2),
        ),
      )
      .resolves(reservations(running('i-0', 0), running('i-1', 1), running('i-2', 2)));
    launchBySlot();

    await newCompute().launchStack(tags, { ...familySpec, capacity: 3 });

    assert.deepEqual(imageCalls(), [{ ImageIds: ['ami-00000000000000003'] }], 'no family lookup');
    const inputs = runInputs();
    assert.equal(inputs.length, 1);
    assert.equal(inputs[0]?.ImageId, 'ami-00000000000000003');
    assert.deepEqual(inputs[0]?.BlockDeviceMappings, [encryptedXvda]);
  });

  it('replaces a stack whose every instance was lost with the image they ran', async () => {
    imagesInAccount(
      familyImage('ami-00000000000000003', '2026-11-03T10:00:00.000Z'),
      familyImage('ami-00000000000000009', '2026-11-09T10:00:00.000Z'),
    );
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations(ec2Instance('i-dead0', 0, 'terminated', undefined, 'ami-00000000000000003')))
      .resolves(reservations(ec2Instance('i-0', 0, 'running', undefined, 'ami-00000000000000003')));
    launchBySlot();

    await newCompute().launchStack(tags, familySpec);

    assert.equal(runInputs()[0]?.ImageId, 'ami-00000000000000003');
  });

  it('keeps an explicit AMI stack on its image too, looked up by id only', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations(ec2Instance('i-0', 0, 'running')))
      .resolves(reservations(ec2Instance('i-0', 0, 'running'), ec2Instance('i-1', 1, 'running')));
    launchBySlot();

    await newCompute().launchStack(tags, { ...spec, capacity: 2 });

    assert.deepEqual(imageCalls(), [{ ImageIds: ['ami-0123456789abcdef0'] }]);
    assert.equal(runInputs()[0]?.ImageId, 'ami-0123456789abcdef0');
  });

  it('fails a top-up when the image the stack runs was deregistered, rather than mix images', async () => {
    imagesInAccount(familyImage('ami-00000000000000009', '2026-11-09T10:00:00.000Z'));
    ec2
      .on(DescribeInstancesCommand)
      .resolves(reservations(ec2Instance('i-0', 0, 'running', undefined, 'ami-00000000000000003')));

    await assert.rejects(
      newCompute().launchStack(tags, { ...familySpec, capacity: 2 }),
      (error: Error) =>
        error instanceof LaunchFailedError &&
        /^image ami-00000000000000003 \(run by stack checkout-dev-v0003, whose new instances must run it too\) was not found/.test(
          error.message,
        ),
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('refuses to top up a stack whose instances run different images', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves(
        reservations(
          ec2Instance('i-0', 0, 'running', undefined, 'ami-00000000000000003'),
          ec2Instance('i-1', 1, 'running', undefined, 'ami-00000000000000009'),
        ),
      );

    await assert.rejects(
      newCompute().launchStack(tags, { ...familySpec, capacity: 3 }),
      (error: Error) =>
        error instanceof LaunchFailedError &&
        /run different images \(ami-00000000000000003, ami-00000000000000009\)/.test(error.message),
    );
    assert.equal(ec2.commandCalls(RunInstancesCommand).length, 0);
  });

  it('looks no image up when the stack already has its capacity', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations(ec2Instance('i-0', 0, 'running')));

    await newCompute().launchStack(tags, familySpec);

    assert.equal(imageCalls().length, 0);
  });
});

describe('Ec2Compute user data', () => {
  async function launchedEnvironmentFile(env: Record<string, string>): Promise<string> {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(reservations())
      .resolves(reservations(ec2Instance('i-0', 0, 'running')));
    launchBySlot();
    await newCompute().launchStack(tags, { ...spec, capacity: 1, env });
    const script = Buffer.from(runInputs()[0]?.UserData ?? '', 'base64').toString();
    const encoded = /^echo '([A-Za-z0-9+/=]+)' \| base64 -d > \/etc\/kiln\/app\.env$/m.exec(script)?.[1];
    assert.ok(encoded, `user data writes ${APP_ENV_FILE}:\n${script}`);
    return Buffer.from(encoded, 'base64').toString();
  }

  it('writes the spec environment, APP_VERSION, PORT and the stack identity to the app environment file', async () => {
    const file = await launchedEnvironmentFile({ LOG_LEVEL: 'debug' });

    assert.equal(
      file,
      [
        "LOG_LEVEL='debug'",
        "APP_VERSION='2.4.1'",
        "PORT='8080'",
        "KILN_ENVIRONMENT='checkout-dev'",
        "KILN_STACK_ID='checkout-dev-v0003'",
        "KILN_DEPLOYMENT_ID='d-0001'",
        '',
      ].join('\n'),
    );
  });

  it('quotes values so a shell reads them back verbatim', async (t) => {
    const tricky = `it's "quoted" $(touch /tmp/pwned) \`id\` \\ and\nmore lines`;
    const file = await launchedEnvironmentFile({ TRICKY: tricky });
    const dir = await mkdtemp(join(tmpdir(), 'kiln-user-data-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'app.env'), file);

    const read = spawnSync(
      'sh',
      ['-c', 'set -a; . "$1"; printf "%s" "$TRICKY"', 'sh', join(dir, 'app.env')],
      {
        encoding: 'utf8',
      },
    );

    assert.equal(read.status, 0, read.stderr);
    assert.equal(read.stdout, tricky);
  });

  it('refuses an environment too large for EC2 user data without launching anything', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations());
    const env = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`BIG_${i}`, 'x'.repeat(4096)]));

    await assert.rejects(
      newCompute().launchStack(tags, { ...spec, env }),
      (error: Error) => error instanceof LaunchFailedError && /EC2 accepts at most 16384/.test(error.message),
    );
    assert.equal(runInputs().length, 0);
  });
});

describe('Ec2Compute.describeStack', () => {
  it('reads every page of the stack tag filter and maps EC2 states', async () => {
    const requests: unknown[] = [];
    ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
      // The SDK paginator reuses one input object for every page: record what each call sent.
      requests.push(JSON.parse(JSON.stringify(input)));
      return input.NextToken === 'page-2'
        ? reservations(
            ec2Instance('i-1', 1, 'running'),
            ec2Instance('i-3', 3, 'shutting-down'),
            ec2Instance('i-4', 4, 'stopped'),
            ec2Instance('i-5', 5, 'terminated'),
          )
        : {
            ...reservations(ec2Instance('i-2', 2, 'stopping'), ec2Instance('i-0', 0, 'pending')),
            NextToken: 'page-2',
          };
    });

    const instances = await newCompute().describeStack(tags.stackId);

    assert.deepEqual(requests, [stackFilter, { ...stackFilter, NextToken: 'page-2' }]);
    assert.deepEqual(instances, [
      { id: 'i-0', address: 'http://10.0.0.10:8080', state: 'pending' },
      { id: 'i-1', address: 'http://10.0.0.11:8080', state: 'running' },
      { id: 'i-2', address: 'http://10.0.0.12:8080', state: 'stopping' },
      { id: 'i-3', address: 'http://10.0.0.13:8080', state: 'stopping' },
      { id: 'i-4', address: 'http://10.0.0.14:8080', state: 'stopping' },
      { id: 'i-5', address: '', state: 'terminated' },
    ]);
  });
});

describe('Ec2Compute.terminateStack', () => {
  it('terminates the instances not yet terminating and returns at once: the workflow waits', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves(
        reservations(
          ec2Instance('i-0', 0, 'running'),
          ec2Instance('i-1', 1, 'shutting-down'),
          ec2Instance('i-2', 2, 'terminated'),
          ec2Instance('i-3', 3, 'stopped'),
        ),
      );
    ec2.on(TerminateInstancesCommand).resolves({});

    await newCompute().terminateStack(tags.stackId);

    assert.deepEqual(
      ec2.commandCalls(TerminateInstancesCommand).map((call) => call.args[0].input),
      [{ InstanceIds: ['i-0', 'i-3'] }],
    );
    assert.equal(ec2.commandCalls(DescribeInstancesCommand).length, 1);
    assert.deepEqual(sleeps, []);
  });

  it('succeeds without terminating anything when the stack is already gone or terminating', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations(ec2Instance('i-0', 0, 'terminated')));
    await newCompute().terminateStack(tags.stackId);
    ec2.on(DescribeInstancesCommand).resolves(reservations(ec2Instance('i-0', 0, 'shutting-down')));
    await newCompute().terminateStack(tags.stackId);
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await newCompute().terminateStack(tags.stackId);

    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 0);
  });

  it('reports the instances shutting down as stopping until EC2 has terminated them', async () => {
    ec2.on(DescribeInstancesCommand).resolves(reservations(ec2Instance('i-0', 0, 'shutting-down')));
    assert.deepEqual(
      (await newCompute().describeStack(tags.stackId)).map((instance) => instance.state),
      ['stopping'],
    );
  });
});

describe('Ec2Compute.listTaggedStacks', () => {
  it('groups the instances tagged kiln:managed that are not ending by their stack, with the newest launch time', async () => {
    const tagged = (id: string, stackId: string | undefined, launched: string): Ec2Instance => ({
      ...ec2Instance(id, 0, 'running'),
      LaunchTime: new Date(launched),
      Tags: [
        { Key: 'kiln:managed', Value: 'true' },
        ...(stackId ? [{ Key: 'kiln:stack-id', Value: stackId }] : []),
      ],
    });
    ec2
      .on(DescribeInstancesCommand)
      .resolves(
        reservations(
          tagged('i-a', 'shop-v0001', '2026-11-02T09:00:00.000Z'),
          tagged('i-b', 'shop-v0001', '2026-11-02T09:05:00.000Z'),
          tagged('i-c', 'shop-v0002', '2026-11-02T10:00:00.000Z'),
          tagged('i-d', undefined, '2026-11-02T10:00:00.000Z'),
        ),
      );

    const stacks = await newCompute().listTaggedStacks();

    assert.deepEqual(
      stacks.map(({ stackId, instances, launchedAt }) => ({
        stackId,
        ids: instances.map((i) => i.id),
        launchedAt,
      })),
      [
        { stackId: 'shop-v0001', ids: ['i-a', 'i-b'], launchedAt: '2026-11-02T09:05:00.000Z' },
        { stackId: 'shop-v0002', ids: ['i-c'], launchedAt: '2026-11-02T10:00:00.000Z' },
      ],
    );
    assert.deepEqual(ec2.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters, [
      { Name: 'tag:kiln:managed', Values: ['true'] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ]);
  });
});
