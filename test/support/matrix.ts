import type { HttpMethod } from '../../functions/manifest.ts';

/** The roles of the matrix's columns (`member`: a person without a role). */
export type Role = 'member' | 'approver' | 'freeze-manager';
/** Whether the resource belongs to the caller's team or to another. */
export type Side = 'own' | 'other';

/** The team that owns the resources the matrix's calls act on. */
export const OWNER = 'platform';

export interface MatrixCell {
  role: Role;
  side: Side;
  status: number;
}

export interface MatrixRow {
  method: HttpMethod;
  path: string;
  /** An action of functions/core/actors.ts, or `list` (the caller's team's only), or `open` (no caller). */
  action: string;
  /** A route issue 11 adds that the manifest does not have yet. */
  planned: boolean;
  /** One per column with a status (none for an open route). */
  cells: MatrixCell[];
}

/**
 * The matrix table of docs/authorization.md: the rows after the header that starts `| route |`. Columns
 * are `<role>` (own team) and `<role>, other team`; a cell's status is its first number.
 */
export function readMatrix(markdown: string): MatrixRow[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.startsWith('| route |'));
  if (start < 0) throw new Error('docs/authorization.md has no table starting "| route |"');
  const split = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
  const columns = split(lines[start] ?? '').slice(2);
  const rows: MatrixRow[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [route = '', action = '', ...values] = split(line);
    const match = /^`(GET|PUT|POST|DELETE) (\S+)`( \(planned\))?$/.exec(route);
    if (!match)
      throw new Error(`docs/authorization.md: the row "${route}" does not start with \`METHOD /path\``);
    const cells: MatrixCell[] = [];
    values.forEach((value, index) => {
      const status = /^\d{3}/.exec(value)?.[0];
      if (!status) return;
      const [role, other] = (columns[index] ?? '').split(', ');
      cells.push({ role: role as Role, side: other ? 'other' : 'own', status: Number(status) });
    });
    rows.push({
      method: match[1] as HttpMethod,
      path: match[2] ?? '',
      action: action.replaceAll('`', '').split(' ')[0] ?? '',
      planned: Boolean(match[3]),
      cells,
    });
  }
  return rows;
}
