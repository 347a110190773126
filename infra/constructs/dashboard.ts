import { Validations } from 'aws-cdk-lib';
import { AuthorizationType, AwsIntegration, type RestApi } from 'aws-cdk-lib/aws-apigateway';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { DASHBOARD_ASSETS, DASHBOARD_HEADERS, DASHBOARD_PATH } from '../dashboard-assets.ts';

export interface KilnDashboardProps {
  /** The REST API whose origin the dashboard shares: its calls are then same-origin, no CORS. */
  api: RestApi;
}

/**
 * The web dashboard on AWS, at `<ApiUrl>ui/`. API Gateway serves each file of DASHBOARD_ASSETS from the
 * file asset the CDK uploads (an S3 integration whose role may read exactly those objects), one resource
 * per file: no path parameter, so nothing else of the bucket is reachable. The files are open, like the
 * webhook: they hold no data and no secret. What the page shows it fetches from the API on the same
 * origin, each request signed with the person's AWS credentials (SigV4), so IAM authorizes it as it does
 * any other call. The page's Content-Security-Policy travels in its meta element (API Gateway cannot send
 * a static header value containing quotes); the other headers are sent here.
 */
export class KilnDashboard extends Construct {
  /** Where a person opens it. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: KilnDashboardProps) {
    super(scope, id);
    const reader = new Role(this, 'FileReader', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      description: 'API Gateway reads the Kiln dashboard files it serves at /ui/, and nothing else',
    });
    const folder = props.api.root.addResource(DASHBOARD_PATH.slice(1, -1));
    for (const file of DASHBOARD_ASSETS) {
      const asset = new Asset(this, file.name || 'index.html', { path: file.file });
      reader.addToPolicy(
        new PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)],
        }),
      );
      const headers = { ...DASHBOARD_HEADERS, 'Content-Type': file.contentType };
      const method = (file.name === '' ? folder : folder.addResource(file.name)).addMethod(
        'GET',
        new AwsIntegration({
          service: 's3',
          integrationHttpMethod: 'GET',
          path: `${asset.s3BucketName}/${asset.s3ObjectKey}`,
          options: {
            credentialsRole: reader,
            integrationResponses: [
              { statusCode: '200', responseParameters: staticValues(headers) },
              // The file could not be read (S3 answers 403 for a missing object): the API's fault, not the caller's.
              { statusCode: '502', selectionPattern: '[45]\\d{2}' },
            ],
          },
        }),
        {
          authorizationType: AuthorizationType.NONE,
          methodResponses: [
            { statusCode: '200', responseParameters: declared(headers) },
            { statusCode: '502' },
          ],
        },
      );
      Validations.of(method).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: `GET ${DASHBOARD_PATH}${file.name} serves a static file of the dashboard, which holds no data: every API call the page makes is signed with the person's own AWS credentials and authorized by IAM.`,
      });
    }
    this.url = `${props.api.url}${DASHBOARD_PATH.slice(1)}`;
  }
}

/** `{ name: value }` as integration response parameters: the static values API Gateway sends. */
function staticValues(headers: Record<string, string>): Record<string, string> {
  const quoted = Object.entries(headers).find(([, value]) => value.includes("'"));
  if (quoted) throw new Error(`API Gateway cannot send the header ${quoted[0]}: its value has a quote`);
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [`method.response.header.${name}`, `'${value}'`]),
  );
}

/** The headers a method response declares. */
function declared(headers: Record<string, string>): Record<string, boolean> {
  return Object.fromEntries(Object.keys(headers).map((name) => [`method.response.header.${name}`, true]));
}
