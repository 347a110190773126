/**
 * The REST API's routes: one handler module per route under functions/handlers/api/.
 * The embedded gateway and the CDK API construct both build from this table.
 */
export interface Route {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** API Gateway resource path; `{name}` segments become path parameters. */
  path: string;
  /** Module name under functions/handlers/api/ exporting `handler`. */
  handler: string;
}

export const routes: readonly Route[] = [
  { method: 'GET', path: '/environments', handler: 'listEnvironments' },
  { method: 'PUT', path: '/environments/{name}', handler: 'putEnvironment' },
  { method: 'GET', path: '/environments/{name}', handler: 'getEnvironment' },
  { method: 'DELETE', path: '/environments/{name}', handler: 'deleteEnvironment' },
  { method: 'POST', path: '/environments/{name}/deployments', handler: 'startDeployment' },
  { method: 'GET', path: '/environments/{name}/deployments', handler: 'listDeployments' },
  { method: 'GET', path: '/environments/{name}/deployments/{id}', handler: 'getDeployment' },
  { method: 'POST', path: '/environments/{name}/deployments/{id}/cancel', handler: 'cancelDeployment' },
  { method: 'GET', path: '/environments/{name}/stacks', handler: 'listStacks' },
];
