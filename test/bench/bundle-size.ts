/**
 * `npm run bench` (first part): bundles every entry point of the manifest exactly as the CDK functions
 * do (the same `bundleHandlers` esbuild run of infra/constructs/functions.ts) and prints, per function,
 * its bundle size and its cold import time as a ratio to a hello-world ES module timed in the same run.
 *
 * A cold import is a fresh Node process that imports the bundle and exits, as a Lambda cold start loads
 * the handler module: parse, evaluate the top level (SDK clients' modules, middy, zod). The ratio to the
 * same process importing a one-line module cancels the machine's speed and Node's own start-up, so the
 * number means the same on a laptop and in CI. Each is the median of ROUNDS runs, interleaved so that a
 * busy machine slows every module alike.
 *
 * Budgets (exit 1 when one is exceeded):
 * - 1.5 MiB of minified code per handler: crossing it means a dependency slipped in untree-shaken (a
 *   whole SDK, the embedded runtime, a test library);
 * - API handlers import within 3.5× the hello-world module: they answer people, and a cold start is
 *   latency someone waits for. Workflow tasks are not held to it: Step Functions waits for them. Cron
 *   parsing (croner) is evaluated only where a schedule is read: PUT of an environment (its idle policy's
 *   crons are checked at the edge), and, imported on first use, the upkeep calendar of an environment
 *   whose policy has crons; the spec's schemas only by the routes that take a spec. PUT of an environment
 *   is then the slowest (3.0–3.3× on a quiet machine, more on a busy one).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleHandlers, type HandlerModule, handlerModules } from '../../infra/constructs/functions.ts';

export const BUDGET_BYTES = 1.5 * 1024 * 1024;
export const API_IMPORT_BUDGET = 3.5;
const ROUNDS = 9;

interface Measured {
  module: HandlerModule;
  bytes: number;
  gzipBytes: number;
  /** Median cold import time over the hello-world module's. */
  importRatio: number;
  /** The three packages contributing most to the bundle. */
  largest: string;
}

function measure(): { results: Measured[]; helloMs: number } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  try {
    const modules = handlerModules();
    const metafile = bundleHandlers(dir, modules);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const hello = join(dir, 'hello.mjs');
    writeFileSync(hello, 'export const handler = async () => "hello";\n');
    const files = [hello, ...modules.map(({ entry }) => join(dir, entry.name, 'index.mjs'))];
    const times = coldImportTimes(files);
    const helloMs = median(times.get(hello) ?? []);
    const results = modules.map((module) => {
      const outfile = join(dir, module.entry.name, 'index.mjs');
      const code = readFileSync(outfile);
      const output = Object.entries(metafile.outputs).find(([path]) =>
        path.endsWith(`${module.entry.name}/index.mjs`),
      )?.[1];
      return {
        module,
        bytes: code.byteLength,
        gzipBytes: gzipSync(code, { level: 9 }).byteLength,
        importRatio: median(times.get(outfile) ?? []) / helloMs,
        largest: output ? largestPackages(output.inputs) : '',
      };
    });
    return { results, helloMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Milliseconds a fresh Node process takes to import each file and exit, ROUNDS times each, interleaved:
 * what a cold start pays before the handler runs (the runtime starting, the module loading).
 */
function coldImportTimes(files: string[]): Map<string, number[]> {
  const times = new Map<string, number[]>(files.map((file) => [file, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const file of files) {
      const started = performance.now();
      const run = spawnSync(process.execPath, [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(file)});`,
      ]);
      const elapsed = performance.now() - started;
      if (run.status !== 0) throw new Error(`importing ${file} failed: ${run.stderr}`);
      times.get(file)?.push(elapsed);
    }
  }
  return times;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
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

function print(results: Measured[], helloMs: number): void {
  const rows = results.map((r) => [
    `${r.module.entry.trigger.type}/${r.module.entry.name}`,
    kib(r.bytes),
    kib(r.gzipBytes),
    `${r.importRatio.toFixed(1)}×`,
    r.largest,
  ]);
  const header = ['function', 'minified', 'gzip', 'import', 'largest contributors'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column >= 1 && column <= 3 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]),
      )
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
  const largest = results.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const slowestApi = results
    .filter((r) => r.module.entry.trigger.type === 'http')
    .reduce((a, b) => (b.importRatio > a.importRatio ? b : a));
  console.log(
    `\nimport: the ratio of a cold import to a hello-world ES module's (${helloMs.toFixed(1)} ms here), median of ${ROUNDS}` +
      `\nlargest: ${largest.module.entry.name} ${kib(largest.bytes)} (gzip ${kib(largest.gzipBytes)}); budget ${kib(BUDGET_BYTES)} per handler` +
      `\nslowest API handler to import: ${slowestApi.module.entry.name} ${slowestApi.importRatio.toFixed(1)}×; budget ${API_IMPORT_BUDGET}×`,
  );
}

const { results, helloMs } = measure();
print(results, helloMs);
const over = [
  ...results.filter((r) => r.bytes > BUDGET_BYTES).map((r) => `${r.module.entry.name} (${kib(r.bytes)})`),
  ...results
    .filter((r) => r.module.entry.trigger.type === 'http' && r.importRatio > API_IMPORT_BUDGET)
    .map((r) => `${r.module.entry.name} (import ${r.importRatio.toFixed(1)}×)`),
];
if (over.length > 0) {
  console.error(`\nover budget: ${over.join(', ')}`);
  process.exitCode = 1;
}
