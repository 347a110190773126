import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AslDefinition,
  checkDefinition,
  functionNameOf,
  loadDefinition,
  substitute,
  taskStates,
} from '../../functions/asl.ts';
import { workflowFiles } from '../../infra/constructs/workflows.ts';
import {
  type CfnResource,
  functionIds,
  kiln,
  logicalIdOf,
  referencedId,
  resourcesOf,
} from './kiln-template.ts';

interface StateMachineProperties {
  StateMachineName: string;
  DefinitionString: string;
  DefinitionSubstitutions: Record<string, unknown>;
  RoleArn: unknown;
  LoggingConfiguration: { Level: string; IncludeExecutionData: boolean; Destinations: unknown[] };
  TracingConfiguration: { Enabled: boolean };
}

function stateMachines(): Map<string, { id: string; properties: StateMachineProperties }> {
  const { stack } = kiln();
  const resources = resourcesOf(kiln().template, 'AWS::StepFunctions::StateMachine');
  return new Map(
    [...stack.workflows.stateMachines].map(([workflow, stateMachine]) => {
      const id = logicalIdOf(stack, stateMachine);
      return [workflow, { id, properties: resources[id].Properties as unknown as StateMachineProperties }];
    }),
  );
}

/** Actions and resources a role's policies allow. */
function roleStatements(roleId: string): Array<{ Action: string | string[]; Resource: unknown }> {
  return Object.values(resourcesOf(kiln().template, 'AWS::IAM::Policy'))
    .filter((policy: CfnResource) =>
      (policy.Properties.Roles as Array<{ Ref: string }>).some((role) => role.Ref === roleId),
    )
    .flatMap(
      (policy) =>
        (
          policy.Properties.PolicyDocument as {
            Statement: Array<{ Action: string | string[]; Resource: unknown }>;
          }
        ).Statement,
    );
}

/** `{ Fn::GetAtt: [id, Arn] }` → `<id.Arn>`, the way the definition reads once CloudFormation substitutes it. */
function marker(value: unknown): string {
  const id = referencedId(value);
  assert.ok(id, `substitution ${JSON.stringify(value)} is not a reference`);
  return `<${id}.Arn>`;
}

describe('workflows', () => {
  it('are one state machine per ASL file, named so functions can know their ARNs', () => {
    const files = workflowFiles().map((file) => file.workflow);
    assert.deepEqual(files, ['deploy', 'teardown']);
    assert.deepEqual([...stateMachines().keys()], files);
    for (const [workflow, { properties }] of stateMachines()) {
      assert.equal(properties.StateMachineName, `Kiln-${workflow}`);
    }
  });

  it('keep the definition inline, exactly the ASL file', () => {
    for (const { workflow, path } of workflowFiles()) {
      const properties = stateMachines().get(workflow)?.properties;
      assert.ok(properties);
      assert.equal(typeof properties.DefinitionString, 'string');
      assert.deepEqual(JSON.parse(properties.DefinitionString), loadDefinition(path));
    }
  });

  it('resolve every substitution, and every Task to a function the state machine role may invoke', () => {
    const functions = new Map([...functionIds(kiln().stack)].map(([name, id]) => [id, name]));
    for (const { workflow, path } of workflowFiles()) {
      const entry = stateMachines().get(workflow);
      assert.ok(entry);
      const { properties } = entry;
      const substitutions = Object.fromEntries(
        Object.entries(properties.DefinitionSubstitutions).map(([name, value]) => [name, marker(value)]),
      );
      const rendered = substitute(JSON.parse(properties.DefinitionString) as AslDefinition, substitutions);
      assert.ok(!JSON.stringify(rendered).includes('${'), `${workflow}: a \${...} is left in the definition`);

      const roleId = referencedId(properties.RoleArn);
      assert.ok(roleId);
      const invokable = roleStatements(roleId)
        .filter((statement) => [statement.Action].flat().includes('lambda:InvokeFunction'))
        .flatMap((statement) => [statement.Resource].flat().map(marker));

      const tasks = taskStates(rendered);
      assert.ok(tasks.length > 0);
      for (const task of tasks) {
        const id = /^<(\w+)\.Arn>$/.exec(task.resource)?.[1];
        assert.ok(
          id && functions.has(id),
          `${workflow}.${task.stateName}: ${task.resource} is not a Kiln function`,
        );
        assert.ok(invokable.includes(task.resource), `${workflow} may not invoke ${functions.get(id)}`);
      }
      // Nothing more: the role invokes exactly the functions the ASL names.
      const referenced = new Set(
        taskStates(loadDefinition(path)).map((task) => functionNameOf(task.resource)),
      );
      assert.deepEqual(
        new Set(invokable.map((resource) => functions.get(/^<(\w+)\.Arn>$/.exec(resource)?.[1] ?? ''))),
        referenced,
      );
    }
  });

  it('stay valid for both runtimes once substituted', () => {
    for (const [workflow, { properties }] of stateMachines()) {
      const substitutions = Object.fromEntries(
        Object.entries(properties.DefinitionSubstitutions).map(([name, value]) => [
          name,
          `arn:aws:lambda:us-east-1:123456789012:function:${referencedId(value)}`,
        ]),
      );
      const rendered = substitute(JSON.parse(properties.DefinitionString) as AslDefinition, substitutions);
      assert.deepEqual(checkDefinition(rendered), [], workflow);
    }
  });

  it('log every event without execution data, and trace', () => {
    for (const [workflow, { properties }] of stateMachines()) {
      assert.equal(properties.LoggingConfiguration.Level, 'ALL', workflow);
      assert.equal(properties.LoggingConfiguration.IncludeExecutionData, false, workflow);
      assert.equal(properties.LoggingConfiguration.Destinations.length, 1, workflow);
      assert.equal(properties.TracingConfiguration.Enabled, true, workflow);
    }
  });

  it('are the ones the functions start and describe (formatted ARNs, no dependency cycle)', () => {
    const { stack } = kiln();
    for (const [workflow, { properties }] of stateMachines()) {
      const arn = `arn:aws:states:us-east-1:<AWS::AccountId>:stateMachine:${properties.StateMachineName}`;
      const variable = `KILN_${workflow.toUpperCase()}_STATE_MACHINE_ARN`;
      const environment = (
        resourcesOf(kiln().template, 'AWS::Lambda::Function')[functionIds(stack).get('startDeployment') ?? '']
          .Properties.Environment as { Variables: Record<string, unknown> }
      ).Variables;
      assert.equal(flatten(environment[variable]), arn, variable);

      const starter = stack.functions.byName.get('startDeployment')?.role;
      const leaser = stack.functions.byName.get('AcquireLease')?.role;
      assert.ok(starter && leaser);
      const allowed = (roleId: string, action: string) =>
        roleStatements(roleId)
          .filter((statement) => [statement.Action].flat().includes(action))
          .flatMap((statement) => [statement.Resource].flat().map(flatten));
      assert.ok(
        allowed(logicalIdOf(stack, starter), 'states:StartExecution').includes(arn),
        `start ${workflow}`,
      );
      const executions = `arn:aws:states:us-east-1:<AWS::AccountId>:execution:${properties.StateMachineName}:*`;
      assert.ok(
        allowed(logicalIdOf(stack, leaser), 'states:DescribeExecution').includes(executions),
        workflow,
      );
    }
  });
});

function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const record = value as Record<string, unknown>;
  if (Array.isArray(record['Fn::Join'])) {
    const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(separator);
  }
  if (typeof record.Ref === 'string') return `<${record.Ref}>`;
  return JSON.stringify(value);
}
