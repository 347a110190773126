import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, type IConstruct } from 'constructs';
import { functionNameOf, loadDefinition, taskStates } from '../../functions/asl.ts';
import { acknowledgeWildcardResource } from './nag.ts';

/** One `<workflow>.asl.json` per workflow (DESIGN: no hard-coded ARNs, `${<Name>FunctionArn}` substitutions). */
export const STATE_MACHINES_DIR = join(import.meta.dirname, '../../state-machines');

export interface WorkflowFile {
  /** `deploy` for `deploy.asl.json`: the name the Workflows port starts it by. */
  workflow: string;
  path: string;
}

export function workflowFiles(dir: string = STATE_MACHINES_DIR): WorkflowFile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.asl.json'))
    .sort()
    .map((file) => ({ workflow: basename(file, '.asl.json'), path: join(dir, file) }));
}

/** Handler modules a workflow's Task states call (several states may share one). */
export function functionsReferencedBy(path: string): string[] {
  return [...new Set(taskStates(loadDefinition(path)).map((task) => functionNameOf(task.resource)))].sort();
}

/**
 * State machines carry explicit names so their ARNs are known before they exist: functions need those
 * ARNs (environment, StartExecution grants) while the state machines need the functions' ARNs, and
 * formatting one side's ARNs is what keeps CloudFormation free of a dependency cycle.
 */
export function stateMachineName(scope: IConstruct, workflow: string): string {
  return `${Stack.of(scope).stackName}-${workflow}`;
}

export function stateMachineArn(scope: IConstruct, workflow: string): string {
  return Stack.of(scope).formatArn({
    service: 'states',
    resource: 'stateMachine',
    resourceName: stateMachineName(scope, workflow),
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Every execution of the workflow's state machine (executions are named by deployment id). */
export function executionArns(scope: IConstruct, workflow: string): string {
  return Stack.of(scope).formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${stateMachineName(scope, workflow)}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

export interface KilnWorkflowsProps {
  /** Handler module name → its function; every Task state's `${<Name>FunctionArn}` must be here. */
  functions: ReadonlyMap<string, IFunction>;
  dir?: string;
}

/**
 * One Standard state machine per `state-machines/*.asl.json`, its definition kept inline
 * (`DefinitionBody.fromString`, so template tests see it), every `${<Name>FunctionArn}` derived from the
 * ASL's own Task states: adding a Task to an ASL file is enough to wire it, and a Task naming a handler
 * without a function fails synth here rather than at run time.
 */
export class KilnWorkflows extends Construct {
  readonly stateMachines = new Map<string, StateMachine>();

  constructor(scope: Construct, id: string, props: KilnWorkflowsProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    for (const { workflow, path } of workflowFiles(props.dir)) {
      const invoked = functionsReferencedBy(path).map((name) => {
        const fn = props.functions.get(name);
        if (!fn) {
          throw new Error(
            `${basename(path)} calls \${${name}FunctionArn} but there is no function for functions/handlers/tasks/${name}.ts`,
          );
        }
        return { name, fn };
      });

      // Its own role: it may invoke exactly the functions its ASL names, nothing else.
      const role = new Role(this, `${workflow}Role`, {
        assumedBy: new ServicePrincipal('states.amazonaws.com'),
        description: `Kiln ${workflow} workflow`,
      });
      role.addToPolicy(
        new PolicyStatement({
          sid: 'InvokeTaskFunctions',
          actions: ['lambda:InvokeFunction'],
          resources: invoked.map(({ fn }) => fn.functionArn),
        }),
      );

      const stateMachine = new StateMachine(this, workflow, {
        stateMachineName: stateMachineName(this, workflow),
        definitionBody: DefinitionBody.fromString(readFileSync(path, 'utf8')),
        definitionSubstitutions: Object.fromEntries(
          invoked.map(({ name, fn }) => [`${name}FunctionArn`, fn.functionArn]),
        ),
        role,
        // No state-machine timeout: it would end an execution without its Catch/compensation path.
        // Every Task has its own TimeoutSeconds and every wait loop its own deadline instead.
        logs: {
          destination: logGroup,
          level: LogLevel.ALL,
          // Inputs and outputs carry only ids and progress today, but handler errors are copied into
          // them (`$.error`), and a later state could carry a spec whose `env` holds secrets. Events
          // without data still show every transition, error name and timing.
          includeExecutionData: false,
        },
        tracingEnabled: true,
      });
      this.stateMachines.set(workflow, stateMachine);

      // CDK adds these to the role for logging and tracing; neither API supports resource-level permissions.
      const defaultPolicy = role.node.findChild('DefaultPolicy');
      acknowledgeWildcardResource(
        defaultPolicy,
        '*',
        'CloudWatch Logs log-delivery actions (CreateLogDelivery, ...) and X-Ray PutTraceSegments/GetSampling* support no resource-level permissions; Step Functions needs them to log and trace executions.',
      );
    }
  }
}
