import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { upkeepDueOf } from '../../functions/core/idle.ts';
import type { StateStore } from '../../functions/core/ports/state-store.ts';
import type { WorkflowInput, WorkflowName, Workflows } from '../../functions/core/ports/workflows.ts';
import { nextFireTime } from '../../functions/core/schedule-expressions.ts';
import { stackIdFor } from '../../functions/core/spec.ts';
import type { Environment } from '../../functions/core/types.ts';
import { sampleSpec } from './specs.ts';

/**
 * A fleet of live environments written straight to the store, as deployments would have left them, for
 * the idle sweep to find: `due` of them idle for longer than their tier's 60 minutes at `now`, the rest
 * active a minute ago. Returns the names of the due ones.
 */
export async function seedFleet(
  store: Pick<StateStore, 'createEnvironment'>,
  options: { count: number; due: number; now: Date; concurrency?: number },
): Promise<string[]> {
  const { count, due, now } = options;
  const dueNames: string[] = [];
  let next = 0;
  const seedOne = async (index: number) => {
    const name = `fleet-${String(index).padStart(6, '0')}`;
    const isDue = index % Math.floor(count / due) === 0 && dueNames.length < due;
    if (isDue) dueNames.push(name);
    const activeAt = new Date(now.getTime() - (isDue ? 90 : 1) * 60_000).toISOString();
    const spec = sampleSpec({ version: 'v1' });
    const environment: Environment = {
      name,
      team: `team-${index % 50}`,
      tier: 'dev',
      spec,
      version: 2,
      generation: 1,
      status: 'live',
      liveStackId: stackIdFor(name, 1),
      liveGeneration: 1,
      liveSpec: spec,
      lastActivityAt: activeAt,
      awakeSince: activeAt,
      createdAt: activeAt,
      updatedAt: activeAt,
    };
    const upkeepDue = upkeepDueOf(environment, nextFireTime);
    await store.createEnvironment({ ...environment, ...(upkeepDue ? { upkeepDue } : {}) });
  };
  const worker = async () => {
    while (next < count) await seedOne(next++);
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  return dueNames.sort();
}

/** Workflows that only record what was started: for measuring the sweep itself, not the sleeps it starts. */
export class RecordingWorkflows implements Workflows {
  readonly started: { workflow: WorkflowName; input: WorkflowInput }[] = [];

  async start(workflow: WorkflowName, input: WorkflowInput): Promise<void> {
    this.started.push({ workflow, input });
  }

  async isRunning(): Promise<boolean> {
    return false;
  }

  /** Nothing here waits for an answer. */
  async answerTask(): Promise<void> {}
}

/** What a DynamoDB client sent, by command, and how many items its reads returned. */
export interface ReadCounter {
  commands: Map<string, number>;
  itemsRead: number;
  /** Queries by the index they read (`table` for the table itself). */
  queries: Map<string, number>;
  /** Stops counting. */
  stop(): void;
}

/** Counts every command the client sends and the items Query, Scan and GetItem return. */
export function countReads(client: DynamoDBDocumentClient): ReadCounter {
  const name = `kilnReadCounter-${randomUUID()}`;
  const counter: ReadCounter = {
    commands: new Map(),
    itemsRead: 0,
    queries: new Map(),
    stop: () => client.middlewareStack.remove(name),
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      counter.commands.set(command, (counter.commands.get(command) ?? 0) + 1);
      if (command === 'QueryCommand') {
        const index = (args.input as { IndexName?: string }).IndexName ?? 'table';
        counter.queries.set(index, (counter.queries.get(index) ?? 0) + 1);
      }
      const result = await next(args);
      const output = result.output as { Items?: unknown[]; Item?: unknown };
      counter.itemsRead += output.Items?.length ?? (output.Item ? 1 : 0);
      return result;
    },
    { step: 'initialize', name },
  );
  return counter;
}
