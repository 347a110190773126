import { isTerminal } from '../deployment-lifecycle.ts';
import { DeploymentCancelledError } from '../errors.ts';
import { activeFreezes, frozenError, isFreezable, verdictOf } from '../freezes.ts';
import type { StorePorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { loadTask } from './context.ts';

/** What CheckFreeze tells the deploy workflow: go on, or wait `waitSeconds` and check again. */
export interface FreezeCheck {
  held: boolean;
  waitSeconds?: number;
}

/**
 * How long a held deployment waits between two checks at most: a freeze deleted or shortened lets it go
 * within this, with one read-only invocation a minute per held deployment meanwhile.
 */
export const FREEZE_RECHECK_SECONDS = 60;

/**
 * The freeze gate (CheckFreeze), the last state before AcquireLease: a deployment that a person or a
 * push asked for waits, holding no lease, while a holding freeze covers its environment (recorded once
 * as `hold`, with an audit event), and ends `cancelled` (FrozenError) if a refusing freeze began after
 * it was accepted. A break-glass deployment, a rollback, a wake and a drift repair pass; so does one
 * that already ended. A cancel request ends it here.
 */
export async function checkFreeze(ports: StorePorts, input: WorkflowInput): Promise<FreezeCheck> {
  const { deployment, environment } = await loadTask(ports, input);
  if (isTerminal(deployment.status)) return { held: false };
  if (deployment.cancelRequest) {
    throw new DeploymentCancelledError(`cancelled by ${deployment.cancelRequest.by} while it was queued`);
  }
  if (!isFreezable(deployment.action, deployment.trigger) || deployment.breakGlass) return { held: false };
  const now = ports.clock.now();
  const verdict = verdictOf(await activeFreezes(ports, environment, now), false);
  if (verdict.kind === 'open') return { held: false };
  if (verdict.kind === 'refused') throw frozenError(environment.name, verdict.by);
  if (verdict.kind !== 'held') return { held: false };
  const freezes = verdict.by.map(({ freeze }) => freeze.id);
  if (!deployment.hold || deployment.hold.until !== verdict.until) {
    await ports.store.updateDeployment(input.environment, deployment.id, {
      hold: { since: deployment.hold?.since ?? now.toISOString(), freezes, until: verdict.until },
    });
  }
  if (!deployment.hold) {
    await ports.store.appendAudit({
      id: `${deployment.id}:held`,
      environment: input.environment,
      at: now.toISOString(),
      actor: 'kiln',
      trigger: deployment.trigger,
      action: 'deployment.held',
      reason: `held by freeze ${freezes.join(', ')} until ${verdict.until}`,
      detail: { deploymentId: deployment.id, freezes, until: verdict.until },
    });
  }
  const left = Math.ceil((Date.parse(verdict.until) - now.getTime()) / 1000);
  return { held: true, waitSeconds: Math.min(Math.max(left, 1), FREEZE_RECHECK_SECONDS) };
}
