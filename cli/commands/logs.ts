import type { Command } from 'commander';
import type { RecordedAuditEvent } from '../../functions/core/types.ts';
import { table } from '../output.ts';
import { environmentPath } from '../paths.ts';
import { type Act, count } from '../program.ts';

/** The largest page the audit route serves. */
const AUDIT_PAGE = '100';

/**
 * `kiln logs <env>`: the environment's audit trail, oldest first: every decision about it, who made it
 * and why (Kiln keeps no instance logs it could serve; a deployment's steps are `kiln watch`'s).
 */
export function logCommands(program: Command, act: Act): void {
  program
    .command('logs')
    .description("an environment's audit trail, oldest first: who decided what, when and why")
    .argument('<env>', 'environment name')
    .option('--tail <n>', 'only the newest n events', count)
    .action(
      act<{ tail?: string }>(async ({ client, out }, [name], { tail }) => {
        const events: RecordedAuditEvent[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.send<{ events: RecordedAuditEvent[]; next?: string }>(
            'GET',
            environmentPath(name, 'audit'),
            { query: { limit: AUDIT_PAGE, ...(cursor ? { cursor } : {}) } },
          );
          events.push(...page.events);
          cursor = page.next;
        } while (cursor);
        const shown = tail === undefined ? events : events.slice(-Number(tail));
        out.result({ events: shown }, () =>
          table(
            ['AT', 'ACTOR', 'TRIGGER', 'ACTION', 'REASON'],
            shown.map((event) => [event.at, event.actor, event.trigger, event.action, event.reason]),
          ),
        );
      }),
    );
}
