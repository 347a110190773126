import { stringify } from 'yaml';

/** `--output`: text for people, one JSON document on stdout for scripts. */
export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Where a command's result goes, in the format asked for. */
export interface Output {
  readonly format: OutputFormat;
  /**
   * The command's result: `document` as JSON, or `text()` for a person (only computed then). Each
   * command prints once, so stdout holds exactly one JSON document.
   */
  result(document: unknown, text: () => string): void;
}

export function output(format: OutputFormat, stdout: NodeJS.WritableStream): Output {
  return {
    format,
    result(document, text) {
      stdout.write(format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : `${text().trimEnd()}\n`);
    },
  };
}

/** Rows under upper-case headers, in left-aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return columns([headers, ...rows]);
}

/** `name: value` lines, the values aligned. */
export function fields(pairs: readonly (readonly [string, unknown])[]): string {
  return columns(pairs.map(([name, value]) => [`${name}:`, value]));
}

/** Cells in left-aligned columns two spaces apart; `-` for an empty cell. */
function columns(rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map((cell) => (cell == null || cell === '' ? '-' : String(cell))));
  const widths = (cells[0] ?? []).map((_, column) =>
    Math.max(...cells.map((row) => row[column]?.length ?? 0)),
  );
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A record for a person to read: YAML, as an environment file is written. */
export function readable(document: unknown): string {
  return stringify(document);
}
