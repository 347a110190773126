import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROUTES as routes } from '../../functions/manifest.ts';
import { DASHBOARD_ASSETS, DASHBOARD_HEADERS, isDashboardPath } from '../../infra/dashboard-assets.ts';
import { apiMethods, kiln, referencedId, resourcesOf } from './kiln-template.ts';

/** The dashboard's methods by path (`/ui`, `/ui/app.js`, ...). */
function dashboardMethods() {
  return new Map(
    apiMethods()
      .filter(({ path }) => isDashboardPath(path))
      .map((method) => [method.path, method]),
  );
}

describe('web dashboard on AWS', () => {
  it('serves each of its files, and only those, at <ApiUrl>ui/ with GET and no route of the API there', () => {
    const methods = dashboardMethods();
    assert.deepEqual(
      [...methods.keys()].sort(),
      DASHBOARD_ASSETS.map((asset) => (asset.name ? `/ui/${asset.name}` : '/ui')).sort(),
    );
    for (const [path, method] of methods) {
      assert.equal(method.method, 'GET', path);
      assert.ok(!/\{/.test(path), `${path}: no path parameter, so no other object is reachable`);
    }
    assert.ok(!routes.some((route) => isDashboardPath(route.path)));
  });

  it('is open like the webhook (the files hold no data), reading each file from its asset object with a role for exactly those objects', () => {
    const { template } = kiln();
    const roleIds = new Set<string>();
    for (const [path, { properties }] of dashboardMethods()) {
      assert.equal(properties.AuthorizationType, 'NONE', path);
      const integration = properties.Integration as {
        Type: string;
        IntegrationHttpMethod: string;
        Uri: unknown;
        Credentials: unknown;
      };
      assert.equal(integration.Type, 'AWS', path);
      assert.equal(integration.IntegrationHttpMethod, 'GET', path);
      assert.match(
        JSON.stringify(integration.Uri),
        /:s3:path\/",.*cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.(html|m?js|css|svg)"/,
        path,
      );
      roleIds.add(referencedId(integration.Credentials) ?? '');
    }
    assert.equal(roleIds.size, 1);
    const [roleId] = [...roleIds];
    const role = resourcesOf(template, 'AWS::IAM::Role')[roleId];
    assert.match(JSON.stringify(role.Properties.AssumeRolePolicyDocument), /apigateway\.amazonaws\.com/);
    const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(roleId),
    );
    const statements = policies.flatMap(
      (policy) =>
        (policy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement,
    );
    const objects = statements.flatMap((statement) => {
      assert.deepEqual([statement.Effect, statement.Action], ['Allow', 's3:GetObject']);
      return [statement.Resource].flat().map((resource) => JSON.stringify(resource));
    });
    assert.equal(objects.length, DASHBOARD_ASSETS.length);
    for (const object of objects) {
      assert.match(
        object,
        /cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.(html|m?js|css|svg)"/,
        'one object, by its hash',
      );
      assert.ok(!object.includes('*'), object);
    }
  });

  it('sends each file with its content type, no sniffing, no framing, no referrer; a file it cannot read is a 502', () => {
    const byPath = new Map(
      DASHBOARD_ASSETS.map((asset) => [asset.name ? `/ui/${asset.name}` : '/ui', asset]),
    );
    for (const [path, { properties }] of dashboardMethods()) {
      const responses = (properties.Integration as { IntegrationResponses: Array<Record<string, unknown>> })
        .IntegrationResponses;
      const ok = responses.find((response) => response.StatusCode === '200');
      assert.deepEqual(ok?.ResponseParameters, {
        ...Object.fromEntries(
          Object.entries(DASHBOARD_HEADERS).map(([name, value]) => [
            `method.response.header.${name}`,
            `'${value}'`,
          ]),
        ),
        'method.response.header.Content-Type': `'${byPath.get(path)?.contentType}'`,
      });
      assert.deepEqual(
        responses.find((response) => response.StatusCode === '502'),
        { StatusCode: '502', SelectionPattern: '[45]\\d{2}' },
      );
    }
  });

  it('names where it is in the outputs', () => {
    const output = kiln().template.findOutputs('DashboardUrl').DashboardUrl as { Value: unknown };
    assert.match(JSON.stringify(output.Value), /\/ui\/"\]\]/);
  });
});
