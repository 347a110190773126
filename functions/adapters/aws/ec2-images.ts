import {
  type BlockDeviceMapping,
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  type EC2Client,
  type Image,
  paginateDescribeImages,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { ArtifactNotReadyError, LaunchFailedError } from '../../core/errors.ts';
import { isAwsError } from './aws-errors.ts';
import { ARTIFACT_TAG, VERSION_TAG } from './tags.ts';

/** An AMI id as EC2 writes it: `ami-` and 8 or 17 hex digits. Any other artifact names an image family. */
const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** DescribeImages' answers for an id that names no image this account may see. */
const UNKNOWN_IMAGE_ERRORS = ['InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable'];

/** Volume types whose IOPS are provisioned: gp2 and the HDD types refuse an IOPS value. */
const PROVISIONED_IOPS_TYPES: readonly VolumeType[] = ['gp3', 'io1', 'io2'];

/** An image Kiln may launch, with the one block device mapping RunInstances sets for it. */
export interface LaunchableImage {
  imageId: string;
  /** The image's own root device, as the image maps it but encrypted (see `encryptedRootVolume`). */
  rootVolume: BlockDeviceMapping;
}

function isImageId(artifact: string): boolean {
  return AMI_ID.test(artifact);
}

/**
 * The image a spec's artifact names. An `ami-…` artifact is that AMI. Any other artifact is an image
 * family: the newest (by CreationDate) available AMI owned by this account and tagged
 * `kiln:artifact=<family>` and `kiln:version=<version>`. ArtifactNotReadyError when there is none yet
 * (or the image is still being created); LaunchFailedError when the image can never be launched.
 */
export async function resolveArtifactImage(
  client: EC2Client,
  artifact: string,
  version: string,
): Promise<LaunchableImage> {
  if (isImageId(artifact)) return imageById(client, artifact, `the artifact, version ${version}`);
  return launchable(
    await newestImageOfFamily(client, artifact, version),
    `artifact ${artifact} version ${version}`,
  );
}

/**
 * A known image by id: an explicit artifact, or the image a stack's instances already run. `role` says
 * what the image is to whoever reads an error: `image ami-… (<role>) was not found ...`.
 */
export async function imageById(client: EC2Client, imageId: string, role: string): Promise<LaunchableImage> {
  let images: Image[] = [];
  let unknown: unknown;
  try {
    ({ Images: images = [] } = await client.send(new DescribeImagesCommand({ ImageIds: [imageId] })));
  } catch (error) {
    if (!isAwsError(error, UNKNOWN_IMAGE_ERRORS)) throw error;
    unknown = error;
  }
  const image = images.find((candidate) => candidate.ImageId === imageId);
  if (!image) {
    throw new LaunchFailedError(
      `image ${imageId} (${role}) was not found: it does not exist, was deregistered, or is not shared with this account`,
      unknown === undefined ? undefined : { cause: unknown },
    );
  }
  if (image.State === 'pending') {
    throw new ArtifactNotReadyError(`image ${imageId} (${role}) is not available yet: it is still pending`);
  }
  return launchable(image, role);
}

/**
 * The newest available AMI of the family at this version. Tag filters match `*` and `?` as wildcards, so
 * the tags of each answer are compared exactly as well; images still pending (or failed) are named in the
 * error, which says what was looked for.
 */
async function newestImageOfFamily(client: EC2Client, family: string, version: string): Promise<Image> {
  const request: DescribeImagesCommandInput = {
    Owners: ['self'],
    Filters: [
      { Name: `tag:${ARTIFACT_TAG}`, Values: [family] },
      { Name: `tag:${VERSION_TAG}`, Values: [version] },
    ],
  };
  const tagged: Image[] = [];
  for await (const page of paginateDescribeImages({ client }, request)) {
    tagged.push(
      ...(page.Images ?? []).filter(
        (image) => tagOf(image, ARTIFACT_TAG) === family && tagOf(image, VERSION_TAG) === version,
      ),
    );
  }
  const available = tagged.filter((image) => image.State === 'available').sort(newestFirst);
  if (available[0]) return available[0];
  const unavailable = tagged.map((image) => `; ${image.ImageId} is ${image.State ?? 'in an unknown state'}`);
  throw new ArtifactNotReadyError(
    `artifact ${family} version ${version} has no image yet: no available AMI owned by this account is tagged ${ARTIFACT_TAG}=${family} and ${VERSION_TAG}=${version}${unavailable.join('')}`,
  );
}

function launchable(image: Image, role: string): LaunchableImage {
  const imageId = image.ImageId ?? '';
  if (image.State !== 'available') {
    throw new LaunchFailedError(`image ${imageId} (${role}) cannot be launched: its state is ${image.State}`);
  }
  return { imageId, rootVolume: encryptedRootVolume(image, role) };
}

/**
 * The mapping for the image's own root device (whatever its name: /dev/xvda, /dev/sda1, ...), encrypted,
 * so that no AMI boots from an unencrypted volume and none gets a second, misnamed root volume. The
 * mapping overrides the image's: it restates the image's size, type, IOPS and throughput rather than rely
 * on EC2 filling in omitted fields from the image (the API documents defaults of its own, e.g. gp2), and
 * EC2 takes the snapshot from the image. Deleted on termination whatever the image says: an instance of an
 * immutable stack never comes back, so its volume would be an orphan.
 */
function encryptedRootVolume(image: Image, role: string): BlockDeviceMapping {
  const imageId = image.ImageId ?? '';
  if (image.RootDeviceType !== 'ebs') {
    throw new LaunchFailedError(
      `image ${imageId} (${role}) has a root device of type ${image.RootDeviceType ?? 'unknown'}: Kiln launches EBS-backed images only, since it encrypts every root volume`,
    );
  }
  const device = image.RootDeviceName;
  const root = image.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === device)?.Ebs;
  if (!device || !root) {
    throw new LaunchFailedError(
      `image ${imageId} (${role}) maps no EBS volume for its root device ${device ?? '(none named)'}`,
    );
  }
  const type = root.VolumeType;
  return {
    DeviceName: device,
    Ebs: {
      Encrypted: true,
      DeleteOnTermination: true,
      ...(type === undefined ? {} : { VolumeType: type }),
      ...(root.VolumeSize === undefined ? {} : { VolumeSize: root.VolumeSize }),
      ...(root.Iops !== undefined && type !== undefined && PROVISIONED_IOPS_TYPES.includes(type)
        ? { Iops: root.Iops }
        : {}),
      ...(root.Throughput !== undefined && type === 'gp3' ? { Throughput: root.Throughput } : {}),
    },
  };
}

function tagOf(image: Image, key: string): string | undefined {
  return image.Tags?.find((tag) => tag.Key === key)?.Value;
}

/** Newest CreationDate first (an image without one counts as oldest); the id breaks ties, so every run agrees. */
function newestFirst(a: Image, b: Image): number {
  return createdAt(b) - createdAt(a) || (b.ImageId ?? '').localeCompare(a.ImageId ?? '');
}

function createdAt(image: Image): number {
  return Date.parse(image.CreationDate ?? '') || 0;
}
