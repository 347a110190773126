import type { Command } from 'commander';
import type { FreezeAnswer } from '../../functions/shared/answer-schemas.ts';
import { FREEZE_FILE, readResourceFile } from '../environment-file.ts';
import { readable, table } from '../output.ts';
import { freezePath } from '../paths.ts';
import type { Act } from '../program.ts';

/** `kiln freeze ls|get|apply|delete`: the team's freeze windows (README "Freeze windows"). */
export function freezeCommands(program: Command, act: Act): void {
  const freeze = program.command('freeze').description('freeze windows: list, show, apply a file, delete');

  freeze
    .command('ls')
    .description("your team's freezes, with the window that covers now and the next one")
    .action(
      act(async ({ client, out }) => {
        const answer = await client.send<{ freezes: FreezeAnswer[] }>('GET', '/freezes');
        out.result(answer, () =>
          table(
            ['ID', 'MODE', 'WHEN', 'ACTIVE UNTIL', 'NEXT', 'REASON'],
            answer.freezes.map((f) => [
              f.id,
              f.mode,
              f.cron
                ? `${f.cron} for ${f.duration}${f.timezone ? ` (${f.timezone})` : ''}`
                : `${f.start} – ${f.end}`,
              f.active?.end,
              f.next?.start,
              f.reason,
            ]),
          ),
        );
      }),
    );

  freeze
    .command('get')
    .description('a freeze: its selector, window, mode and reason')
    .argument('<id>', 'freeze id')
    .action(
      act(async ({ client, out }, [id]) => {
        const found = await client.send<FreezeAnswer>('GET', freezePath(id));
        out.result(found, () => readable(found));
      }),
    );

  freeze
    .command('apply')
    .description('create or replace a freeze from a file (a freeze-manager of the team)')
    .requiredOption(
      '-f, --file <file>',
      'YAML or JSON: id, team, reason, start + end or cron + duration, … (- for stdin)',
    )
    .action(
      act<{ file: string }>(async ({ client, out, stdin }, _args, { file }) => {
        const { name: id, body } = await readResourceFile(file, stdin, FREEZE_FILE);
        const applied = await client.send<FreezeAnswer>('PUT', freezePath(id), { body });
        out.result(applied, () =>
          applied.active
            ? `${id} applied: active until ${applied.active.end} (${applied.mode})`
            : `${id} applied: next window ${applied.next ? `from ${applied.next.start}` : 'none'} (${applied.mode})`,
        );
      }),
    );

  freeze
    .command('delete')
    .description('delete a freeze: what it held goes on within a minute')
    .argument('<id>', 'freeze id')
    .action(
      act(async ({ client, out }, [id]) => {
        const deleted = await client.send<{ id: string; deleted: true }>('DELETE', freezePath(id));
        out.result(deleted, () => `${id} deleted`);
      }),
    );
}
