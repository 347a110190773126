import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  JsonSchemaType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type Model,
  RequestValidator,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type EntryPoint, ROUTES, routesOf } from '../../functions/manifest.ts';

/**
 * Stage-wide throttling: far above what internal teams send, low enough that a runaway client cannot
 * drive the table or Step Functions into their own throttling for everyone.
 */
export const THROTTLING = { rateLimit: 20, burstLimit: 40 } as const;

/** Why each route without IAM authorization (`auth: 'none'` in the manifest) is open. */
const OPEN_ROUTES: Readonly<Record<string, string>> = {
  'POST /hooks/github':
    'POST /hooks/github is a webhook: its caller (GitHub) cannot sign with SigV4, so the handler authenticates each delivery by its HMAC-SHA256 signature under a secret, in constant time, before anything else.',
  'GET /openapi.json':
    "GET /openapi.json serves the API's contract, the document the repository holds as docs/openapi.json: no team's data, and tools read it before they have credentials. Its function reads nothing (no table, no client).",
};

export interface KilnApiProps {
  /** Handler module name → its function; every route's handler must be here. */
  functions: ReadonlyMap<string, IFunction>;
  /** The entry points whose routes to serve: the manifest's unless a test gives its own. */
  entries?: readonly EntryPoint[];
}

/**
 * The REST API: every `http` entry point of functions/manifest.ts, each a Lambda proxy integration with IAM
 * (SigV4) authorization. The gateway checks the request's shape cheaply (path parameters present, a
 * JSON object body where one is required); the handlers validate everything else with the zod schemas
 * of functions/shared/api-schemas.ts, the single definition of what a valid request is, and answer
 * RFC 9457 problems. Duplicating those schemas here as API Gateway models would let the two drift and
 * answer the same mistake in two formats.
 */
export class KilnApi extends Construct {
  readonly api: RestApi;

  constructor(scope: Construct, id: string, props: KilnApiProps) {
    super(scope, id);
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.api = new RestApi(this, 'Api', {
      restApiName: 'kiln',
      description: 'Kiln: environments, deployments and stacks (IAM-authenticated)',
      endpointTypes: [EndpointType.REGIONAL],
      // API Gateway writes execution logs through an account-wide role: nag APIG6 wants those logs.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        throttlingRateLimit: THROTTLING.rateLimit,
        throttlingBurstLimit: THROTTLING.burstLimit,
        metricsEnabled: true,
        // Errors only, and never request/response bodies: specs may carry secrets in `env`.
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            requestTime: AccessLogField.contextRequestTime(),
            caller: AccessLogField.contextIdentityUserArn(),
            sourceIp: AccessLogField.contextIdentitySourceIp(),
            method: AccessLogField.contextHttpMethod(),
            resourcePath: AccessLogField.contextResourcePath(),
            status: AccessLogField.contextStatus(),
            responseLength: AccessLogField.contextResponseLength(),
            responseLatency: AccessLogField.contextResponseLatency(),
            integrationLatency: AccessLogField.contextIntegrationLatency(),
            error: AccessLogField.contextErrorMessage(),
            xrayTraceId: AccessLogField.contextXrayTraceId(),
          }),
        ),
      },
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "The API Gateway account's CloudWatch role needs exactly the AWS-maintained AmazonAPIGatewayPushToCloudWatchLogs policy; it is assumed only by apigateway.amazonaws.com.",
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Every method but the GitHub webhook (signed by GitHub) and the OpenAPI document requires a SigV4 signature from an IAM principal of a Kiln team, so unsigned traffic is refused by API Gateway before any integration runs, and the stage is throttled; a WAF web ACL would add per-request cost without a rule that applies to authenticated internal callers.',
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'Kiln authenticates callers with IAM (SigV4) on every method that acts for a team, not Cognito: teams act through IAM roles named kiln-team-<team>.',
    });

    this.addProblemResponses();
    const validator = new RequestValidator(this, 'Validator', {
      restApi: this.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const jsonObject = this.api.addModel('JsonObject', {
      contentType: 'application/json',
      modelName: 'JsonObject',
      description: 'Any JSON object: the handler validates its fields with zod',
      schema: { type: JsonSchemaType.OBJECT },
    });

    for (const route of props.entries ? routesOf(props.entries) : ROUTES) {
      const fn = props.functions.get(route.handler);
      if (!fn)
        throw new Error(`route ${route.method} ${route.path} has no function for handler ${route.handler}`);
      const pathParameters = [...route.path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((match) => match[1]);
      const method = this.api.root.resourceForPath(route.path).addMethod(
        route.method,
        // No test-invoke permission: the console's test button would bypass IAM auth.
        new LambdaIntegration(fn, { proxy: true, allowTestInvoke: false }),
        {
          authorizationType: route.auth === 'none' ? AuthorizationType.NONE : AuthorizationType.IAM,
          requestValidator: validator,
          requestParameters: Object.fromEntries(
            pathParameters.map((name) => [`method.request.path.${name}`, true]),
          ),
          ...(bodyModel(route.method, jsonObject) ?? {}),
        },
      );
      if (route.auth === 'none') {
        const reason = OPEN_ROUTES[`${route.method} ${route.path}`];
        if (!reason) throw new Error(`${route.method} ${route.path} is open: say why in OPEN_ROUTES`);
        Validations.of(method).acknowledge({ id: 'AwsSolutions-APIG4', reason });
      }
    }
  }

  /** The gateway's own errors (bad body, missing signature, throttling) as RFC 9457 problems too. */
  private addProblemResponses(): void {
    const problem = (title: string, status?: number) =>
      JSON.stringify({ type: 'about:blank', title, ...(status ? { status } : {}) }).replace(
        /}$/,
        ',"detail":$context.error.messageString}',
      );
    const headers = { 'Content-Type': "'application/problem+json'" };
    this.api.addGatewayResponse('BadRequestBody', {
      type: ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      responseHeaders: headers,
      templates: { 'application/json': problem('Bad Request', 400) },
    });
    this.api.addGatewayResponse('Default4xx', {
      type: ResponseType.DEFAULT_4XX,
      responseHeaders: headers,
      templates: { 'application/json': problem('Request refused by the API gateway') },
    });
    this.api.addGatewayResponse('Default5xx', {
      type: ResponseType.DEFAULT_5XX,
      responseHeaders: headers,
      templates: { 'application/json': problem('The API gateway failed to handle the request') },
    });
  }
}

/**
 * PUT replaces an environment and always needs a body: a JSON object. POST's body is optional (an
 * empty POST redeploys the current spec), so it gets no model and the handler decides.
 */
function bodyModel(method: string, jsonObject: Model): { requestModels: Record<string, Model> } | undefined {
  return method === 'PUT' ? { requestModels: { 'application/json': jsonObject } } : undefined;
}
