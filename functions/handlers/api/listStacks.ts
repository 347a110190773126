import { ownedEnvironment } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { stackView } from '../../shared/views.ts';

/** GET /environments/{name}/stacks: every stack the environment ever had, oldest first. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const environment = await ownedEnvironment(ports, actor, name, 'environment:read');
  const stacks = await ports.store.listStacks(environment.name);
  return json(200, { stacks: stacks.map((stack) => stackView(stack, environment)) });
});
