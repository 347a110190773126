import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parse } from 'yaml';
import { UsageError } from './errors.ts';

/**
 * What `kiln env apply -f` and `kiln freeze apply -f` send: `PUT /environments/{name}` or
 * `PUT /freezes/{id}` with the rest of the file as its body.
 */
export interface ResourceFile {
  /** The environment's name, the freeze's id. */
  name: string;
  body: Record<string, unknown>;
}

/** What a file describes, and the top-level key that names it. */
export interface ResourceKind {
  kind: 'environment' | 'freeze';
  key: 'name' | 'id';
  /** The PUT body's fields a person should find named in an error. */
  fields: string;
}

export const ENVIRONMENT_FILE: ResourceKind = {
  kind: 'environment',
  key: 'name',
  fields: 'team, tier and spec',
};
export const FREEZE_FILE: ResourceKind = { kind: 'freeze', key: 'id', fields: 'team, reason and its window' };

/**
 * Reads an environment or freeze file (`-` for stdin): YAML or JSON (YAML's parser reads both), a
 * mapping with what names it (`name`, `id`) and the PUT body's fields (`team`, `tier`, `spec`, …). Only
 * its shape is checked here; Kiln validates the body and names every invalid field.
 */
export async function readResourceFile(
  path: string,
  stdin: NodeJS.ReadableStream,
  { kind, key, fields }: ResourceKind = ENVIRONMENT_FILE,
): Promise<ResourceFile> {
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
    throw new UsageError(`${path} must hold one ${kind}: a mapping with ${key}, ${fields}`);
  }
  const { [key]: name, ...body } = document as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') {
    throw new UsageError(`${path} names no ${kind}: add a top-level "${key}: <${kind}>"`);
  }
  return { name, body };
}
