import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENTRY_POINTS } from '../../functions/manifest.ts';
import { functionIds, kiln, resourcesOf } from './kiln-template.ts';

/** The scheduled upkeep of issue 9, as the manifest lists it. */
const UPKEEP: Record<string, string> = {
  reapOrphans: 'kiln-orphan-reaper',
  repairDrift: 'kiln-drift-check',
};

describe('scheduled upkeep', () => {
  it('is in the manifest: a schedule every 5 minutes per upkeep handler', () => {
    for (const [name, schedule] of Object.entries(UPKEEP)) {
      const entry = ENTRY_POINTS.find((found) => found.name === name);
      assert.deepEqual(entry?.trigger, { type: 'schedule', schedule, expression: 'rate(5 minutes)' }, name);
      assert.equal(entry?.module, `schedules/${name}`);
    }
  });

  it('runs on EventBridge Scheduler in UTC, each schedule invoking its own function with its name', () => {
    const { stack, template } = kiln();
    const schedules = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule'));
    for (const [name, schedule] of Object.entries(UPKEEP)) {
      const found = schedules.find((candidate) => candidate.Properties.Description === `Kiln: ${name}`);
      assert.ok(found, name);
      assert.equal(found.Properties.ScheduleExpression, 'rate(5 minutes)');
      assert.equal(found.Properties.ScheduleExpressionTimezone, 'Etc/UTC');
      assert.equal(found.Properties.State, 'ENABLED');
      const target = found.Properties.Target as { Arn: unknown; Input: string };
      assert.deepEqual(target.Arn, { 'Fn::GetAtt': [functionIds(stack).get(name), 'Arn'] });
      assert.equal(JSON.parse(target.Input).schedule, schedule);
    }
  });
});
