import { type Action, type Actor, authorize } from './actors.ts';
import { ForbiddenError, NotFoundError, VersionConflictError } from './errors.ts';
import type { Ports } from './ports/index.ts';
import type { GitProvider, PreviewTemplate } from './pushes.ts';
import type { Spec, Tier } from './types.ts';

/**
 * Preview templates (PUT/GET/DELETE /templates/{name}): a push creating a branch that a template's glob
 * matches creates a preview environment from it (see ingestion.ts). Team-scoped like environments.
 */

export interface TemplateRequest {
  name: string;
  team: string;
  tier: Tier;
  source: { provider: GitProvider; repository: string; branches: string };
  spec: Spec;
}

type TemplatePorts = Pick<Ports, 'store' | 'clock'>;

/** Creates (`created` true) or replaces the template; `ifMatch` guards a replacement. */
export async function putTemplate(
  ports: TemplatePorts,
  actor: Actor,
  request: TemplateRequest,
  ifMatch?: number,
): Promise<{ template: PreviewTemplate; created: boolean }> {
  if (actor.team !== undefined && request.team !== actor.team) {
    throw new ForbiddenError(`cannot manage a template for team ${request.team}: you act for ${actor.team}`);
  }
  const existing = await ports.store.getTemplate(request.name);
  const now = ports.clock.now().toISOString();
  if (!existing) {
    if (ifMatch !== undefined) {
      throw new VersionConflictError(
        `template ${request.name} does not exist, so If-Match ${ifMatch} cannot match`,
      );
    }
    const template = await ports.store.putTemplate({ ...request, createdAt: now, updatedAt: now });
    await audit(ports, actor, template, 'template.created');
    return { template, created: true };
  }
  authorize(actor, 'template:change', existing);
  if (ifMatch !== undefined && ifMatch !== existing.version) {
    throw new VersionConflictError(
      `template ${request.name} is at version ${existing.version}, not ${ifMatch}: read it again and retry`,
    );
  }
  const template = await ports.store.putTemplate(
    { ...request, createdAt: existing.createdAt, updatedAt: now },
    existing.version,
  );
  await audit(ports, actor, template, 'template.replaced');
  return { template, created: false };
}

/** The template, if the actor may do `action` on it (changing it unless the caller asks to read it). */
export async function ownedTemplate(
  ports: TemplatePorts,
  actor: Pick<Actor, 'team' | 'principal' | 'roles'>,
  name: string,
  action: Extract<Action, 'template:read' | 'template:change'> = 'template:change',
) {
  const template = await ports.store.getTemplate(name);
  if (!template) throw new NotFoundError(`template ${name} does not exist`);
  authorize(actor, action, template);
  return template;
}

/** Deletes the template; the preview environments it made stay, each deleted with its branch or by DELETE. */
export async function deleteTemplate(ports: TemplatePorts, actor: Actor, name: string): Promise<void> {
  const template = await ownedTemplate(ports, actor, name);
  await ports.store.deleteTemplate(name);
  await audit(ports, actor, template, 'template.deleted');
}

async function audit(
  ports: TemplatePorts,
  actor: Actor,
  template: PreviewTemplate,
  action: string,
): Promise<void> {
  await ports.store.appendAudit({
    id: `template:${template.name}:${template.version}:${action}`,
    // Templates have no environment: their audit events live in a partition of their own name.
    environment: `template:${template.name}`,
    at: template.updatedAt,
    actor: actor.principal,
    trigger: actor.trigger,
    action,
    detail: { repository: template.source.repository, branches: template.source.branches },
  });
}
