import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { ROUTES as routes } from '../../functions/manifest.ts';
import { THROTTLING } from '../../infra/constructs/api.ts';
import { isDashboardPath } from '../../infra/dashboard-assets.ts';
import { apiMethods, functionIds, kiln, referencedId, resourcesOf } from './kiln-template.ts';

/** The methods of the API's routes: all but the dashboard's static files (see dashboard.test.ts). */
function methods() {
  return apiMethods().filter(({ path }) => !isDashboardPath(path));
}

describe('REST API', () => {
  it('requires IAM (SigV4) authorization on every method but the open ones the manifest marks', () => {
    const all = methods();
    assert.ok(all.length > 0);
    const open = new Set(routes.filter((route) => route.auth === 'none').map((r) => `${r.method} ${r.path}`));
    assert.deepEqual(
      [...open].sort(),
      ['GET /openapi.json', 'POST /hooks/github'],
      'only the GitHub webhook (which checks its caller itself) and the public contract are open',
    );
    for (const { method, path, properties } of all) {
      const expected = open.has(`${method} ${path}`) ? 'NONE' : 'AWS_IAM';
      assert.equal(properties.AuthorizationType, expected, `${method} ${path}`);
    }
  });

  it('serves exactly the routes of the route table, each through its own function (Lambda proxy)', () => {
    const ids = functionIds(kiln().stack);
    const served = methods().map(({ method, path, properties }) => {
      const integration = properties.Integration as { Type: string; Uri: unknown };
      assert.equal(integration.Type, 'AWS_PROXY', `${method} ${path}`);
      const target = JSON.stringify(integration.Uri).match(/"Fn::GetAtt":\["(\w+)","Arn"\]/)?.[1];
      return `${method} ${path} -> ${[...ids].find(([, id]) => id === target)?.[0]}`;
    });
    assert.deepEqual(
      served.sort(),
      routes.map((route) => `${route.method} ${route.path} -> ${route.handler}`).sort(),
    );
  });

  it('validates path parameters on every method and requires a JSON object body on PUT', () => {
    const validators = resourcesOf(kiln().template, 'AWS::ApiGateway::RequestValidator');
    const [validatorId] = Object.keys(validators);
    assert.equal(Object.keys(validators).length, 1);
    assert.equal(validators[validatorId].Properties.ValidateRequestBody, true);
    assert.equal(validators[validatorId].Properties.ValidateRequestParameters, true);
    for (const { method, path, properties } of methods()) {
      assert.equal(referencedId(properties.RequestValidatorId), validatorId, `${method} ${path}`);
      const expected = [...path.matchAll(/\{(\w+)\}/g)].map((match) => `method.request.path.${match[1]}`);
      assert.deepEqual(
        Object.keys(properties.RequestParameters ?? {}).sort(),
        expected.sort(),
        `${method} ${path}`,
      );
      const models = properties.RequestModels as Record<string, unknown> | undefined;
      assert.equal(Boolean(models?.['application/json']), method === 'PUT', `${method} ${path} body model`);
    }
  });

  it('throttles, traces and logs the stage without request bodies, with JSON access logs kept a year', () => {
    const { template } = kiln();
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      MethodSettings: [
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: THROTTLING.rateLimit,
          ThrottlingBurstLimit: THROTTLING.burstLimit,
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
          MetricsEnabled: true,
        },
      ],
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
    });
    const stage = Object.values(resourcesOf(template, 'AWS::ApiGateway::Stage'))[0];
    const format = (stage.Properties.AccessLogSetting as { Format: string }).Format;
    assert.ok(JSON.parse(format), 'the access log format is JSON');
    const logGroupId = JSON.stringify(
      (stage.Properties.AccessLogSetting as { DestinationArn: unknown }).DestinationArn,
    ).match(/"(Api\w+)"/)?.[1];
    assert.equal(
      resourcesOf(template, 'AWS::Logs::LogGroup')[logGroupId ?? ''].Properties.RetentionInDays,
      365,
    );
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
  });

  it("answers the gateway's own errors as problem+json", () => {
    for (const type of ['BAD_REQUEST_BODY', 'DEFAULT_4XX', 'DEFAULT_5XX']) {
      kiln().template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        ResponseParameters: { 'gatewayresponse.header.Content-Type': "'application/problem+json'" },
        ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"type":"about:blank"') },
      });
    }
  });

  it('lets API Gateway invoke each function only from its own method, with no console test-invoke', () => {
    const permissions = Object.values(resourcesOf(kiln().template, 'AWS::Lambda::Permission')).filter(
      (permission) => permission.Properties.Principal === 'apigateway.amazonaws.com',
    );
    assert.equal(permissions.length, routes.length);
    for (const permission of permissions) {
      assert.ok(!JSON.stringify(permission.Properties.SourceArn).includes('test-invoke-stage'));
    }
  });
});
