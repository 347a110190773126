import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parse } from 'yaml';
import { UsageError } from './errors.ts';

/** What `kiln env apply -f` sends: `PUT /environments/{name}` with the rest of the file as its body. */
export interface EnvironmentFile {
  name: string;
  body: Record<string, unknown>;
}

/**
 * Reads an environment file (`-` for stdin): YAML or JSON (YAML's parser reads both), a mapping with
 * the environment's `name` and the PUT body's fields (`team`, `tier`, `spec`, …). Only its shape is
 * checked here; Kiln validates the body and names every invalid field.
 */
export async function readEnvironmentFile(
  path: string,
  stdin: NodeJS.ReadableStream,
): Promise<EnvironmentFile> {
  let source: string;
  try {
    source = path === '-' ? await text(stdin) : await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let document: unknown;
  try {
    document = parse(source);
  } catch (error) {
    throw new UsageError(`${path} is not valid YAML or JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new UsageError(`${path} must hold one environment: a mapping with name, team, tier and spec`);
  }
  const { name, ...body } = document as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') {
    throw new UsageError(`${path} names no environment: add a top-level "name: <environment>"`);
  }
  return { name, body };
}
