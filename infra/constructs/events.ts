import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import { type EventPattern as CdkEventPattern, EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../../functions/core/lifecycle-events.ts';
import { checkEventPattern, type EventPattern } from '../../functions/event-patterns.ts';
import { ENTRY_POINTS, type EntryPoint } from '../../functions/manifest.ts';
import { acknowledgeWildcardResource } from './nag.ts';

/** How long Kiln's bus keeps its events for replay. */
export const ARCHIVE_RETENTION = Duration.days(90);

export interface KilnEventsProps {
  /** The entry points whose rules and schedules to create (the manifest's unless a test gives its own). */
  entries?: readonly EntryPoint[];
}

/**
 * Kiln's own event bus, where its lifecycle events go, with an archive of them for replay; the rules
 * and schedules of the manifest's entry points (`bindTargets`, once their functions exist).
 */
export class KilnEvents extends Construct {
  readonly bus: EventBus;
  readonly #entries: readonly EntryPoint[];

  constructor(scope: Construct, id: string, props: KilnEventsProps = {}) {
    super(scope, id);
    this.#entries = props.entries ?? ENTRY_POINTS;
    this.bus = new EventBus(this, 'Bus', {
      eventBusName: `${Stack.of(this).stackName}-events`,
      description: 'Kiln lifecycle events: deployment and environment status changes',
    });
    this.bus.archive('Archive', {
      archiveName: `${Stack.of(this).stackName}-events`,
      description: 'Every Kiln lifecycle event, for replay',
      eventPattern: { source: [EVENT_SOURCE] },
      retention: ARCHIVE_RETENTION,
    });
  }

  /** One rule per `rule` entry point and one schedule per `schedule` entry point, each invoking its function. */
  bindTargets(functions: ReadonlyMap<string, IFunction>): void {
    for (const entry of this.#entries) {
      const { trigger } = entry;
      const fn = functions.get(entry.name);
      if (!fn) throw new Error(`no function for entry point ${entry.name}`);
      if (trigger.type === 'rule') {
        new Rule(this, `${trigger.rule}Rule`, {
          description: `Kiln: ${entry.name}`,
          // The account's default bus (AWS service events) unless the rule is on Kiln's own.
          ...(trigger.bus === 'kiln' ? { eventBus: this.bus } : {}),
          eventPattern: cdkEventPattern(trigger.pattern),
          targets: [new LambdaFunction(fn, { retryAttempts: 8, maxEventAge: Duration.hours(2) })],
        });
      }
      if (trigger.type === 'schedule') {
        // Its own role, so that the one grant CDK gives it (invoke the function and its versions) is
        // acknowledged here, on that role, and nowhere else.
        const role = new Role(this, `${trigger.schedule}ScheduleRole`, {
          assumedBy: new ServicePrincipal('scheduler.amazonaws.com'),
          description: `Kiln schedule ${trigger.schedule}: invokes ${entry.name}`,
        });
        new Schedule(this, `${trigger.schedule}Schedule`, {
          description: `Kiln: ${entry.name}`,
          schedule: ScheduleExpression.expression(
            trigger.expression,
            trigger.timezone ? TimeZone.of(trigger.timezone) : TimeZone.ETC_UTC,
          ),
          // The same input the embedded scheduler gives: the schedule's name and its scheduled time.
          target: new LambdaInvoke(fn, {
            role,
            input: ScheduleTargetInput.fromObject({
              schedule: trigger.schedule,
              scheduledTime: '<aws.scheduler.scheduled-time>',
              executionId: '<aws.scheduler.execution-id>',
            }),
          }),
        });
        acknowledgeWildcardResource(
          role.node.findChild('DefaultPolicy'),
          `${fn.functionArn}:*`,
          'EventBridge Scheduler invokes the function by its ARN; CDK also grants its versions (ARN:*), of this one function only.',
        );
      }
    }
  }
}

/**
 * The manifest's patterns are written as EventBridge takes them (`detail-type`); CDK's EventPattern
 * spells the top-level fields in camelCase and writes them back. Everything below the top level passes
 * through as it is, so the embedded bus and the CDK rule match on the very same object.
 */
export function cdkEventPattern(pattern: EventPattern): CdkEventPattern {
  // A pattern the embedded bus would read differently from EventBridge fails synth, not a test run.
  const problems = checkEventPattern(pattern);
  if (problems.length > 0) throw new Error(`invalid event pattern: ${problems.join('; ')}`);
  const renamed: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(pattern)) {
    const key = CDK_FIELD[field];
    if (!key) throw new Error(`event pattern field "${field}" is not one a rule can match at the top level`);
    renamed[key] = value;
  }
  return renamed as CdkEventPattern;
}

const CDK_FIELD: Readonly<Record<string, keyof CdkEventPattern>> = {
  version: 'version',
  id: 'id',
  'detail-type': 'detailType',
  source: 'source',
  account: 'account',
  time: 'time',
  region: 'region',
  resources: 'resources',
  detail: 'detail',
};
