/**
 * `npm run bench`: bundles every handler exactly as the CDK functions do (the same `bundleHandlers`
 * esbuild run of infra/constructs/functions.ts) and prints each bundle's minified and gzipped size.
 *
 * Budget: 1.5 MiB of minified code per handler. Lambda parses and evaluates the whole bundle on every
 * cold start, so size is latency. Everything a handler legitimately needs (four tree-shaken AWS SDK v3
 * clients, Powertools, middy, zod and Kiln's core) fits well below it; crossing it means a dependency
 * slipped in untree-shaken (a whole SDK, the embedded runtime, a test library) and should be looked at
 * before it ships. Exits 1 when a handler is over budget.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleHandlers, handlerModules } from '../../infra/constructs/functions.ts';

export const BUDGET_BYTES = 1.5 * 1024 * 1024;

interface Measured {
  handler: string;
  bytes: number;
  gzipBytes: number;
  /** The three packages contributing most to the bundle. */
  largest: string;
}

function measure(): Measured[] {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  try {
    const modules = handlerModules();
    const metafile = bundleHandlers(dir, modules);
    return modules.map((module) => {
      const outfile = join(dir, module.name, 'index.mjs');
      const code = readFileSync(outfile);
      const output = Object.entries(metafile.outputs).find(([path]) =>
        path.endsWith(`${module.name}/index.mjs`),
      )?.[1];
      return {
        handler: `${module.kind}/${module.name}`,
        bytes: code.byteLength,
        gzipBytes: gzipSync(code, { level: 9 }).byteLength,
        largest: output ? largestPackages(output.inputs) : '',
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function largestPackages(inputs: Record<string, { bytesInOutput: number }>): string {
  const byPackage = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? 'kiln';
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  return [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([name, bytes]) => `${name} ${kib(bytes)}`)
    .join(', ');
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function print(results: Measured[]): void {
  const rows = results.map((r) => [r.handler, String(r.bytes), kib(r.bytes), kib(r.gzipBytes), r.largest]);
  const header = ['handler', 'bytes', 'minified', 'gzip', 'largest contributors'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === 1 || column === 2 || column === 3
          ? cell.padStart(widths[column])
          : cell.padEnd(widths[column]),
      )
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
  const largest = results.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  console.log(
    `\nlargest: ${largest.handler} ${kib(largest.bytes)} (gzip ${kib(largest.gzipBytes)}); budget ${kib(BUDGET_BYTES)} per handler`,
  );
}

const results = measure();
print(results);
const over = results.filter((r) => r.bytes > BUDGET_BYTES);
if (over.length > 0) {
  console.error(`\nover budget: ${over.map((r) => `${r.handler} (${kib(r.bytes)})`).join(', ')}`);
  process.exitCode = 1;
}
