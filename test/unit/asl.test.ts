// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ASL `${...}` substitutions, not templates.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  type AslDefinition,
  checkDefinition,
  functionNameOf,
  loadDefinition,
  substitute,
  taskStates,
} from '../../functions/asl.ts';

function task(resource: string) {
  return { Type: 'Task', Resource: resource, End: true };
}

describe('taskStates', () => {
  it('finds Task states at the top level, in Map iterators and processors, and in Parallel branches', () => {
    const definition: AslDefinition = {
      StartAt: 'Acquire',
      States: {
        Acquire: { Type: 'Task', Resource: '${AcquireLeaseFunctionArn}', TimeoutSeconds: 30, Next: 'Fan' },
        Fan: {
          Type: 'Parallel',
          Next: 'Each',
          Branches: [
            { StartAt: 'Probe', States: { Probe: task('${ProbeHealthFunctionArn}') } },
            { StartAt: 'Idle', States: { Idle: { Type: 'Pass', End: true } } },
          ],
        },
        Each: {
          Type: 'Map',
          Next: 'Legacy',
          ItemProcessor: {
            StartAt: 'Weigh',
            States: {
              Weigh: {
                Type: 'Parallel',
                End: true,
                Branches: [{ StartAt: 'SetWeight', States: { SetWeight: task('${SetWeightFunctionArn}') } }],
              },
            },
          },
        },
        Legacy: {
          Type: 'Map',
          End: true,
          Iterator: { StartAt: 'Drain', States: { Drain: task('${DrainStackFunctionArn}') } },
        },
      },
    };

    assert.deepEqual(taskStates(definition), [
      { stateName: 'Acquire', resource: '${AcquireLeaseFunctionArn}', timeoutSeconds: 30 },
      { stateName: 'Probe', resource: '${ProbeHealthFunctionArn}' },
      { stateName: 'SetWeight', resource: '${SetWeightFunctionArn}' },
      { stateName: 'Drain', resource: '${DrainStackFunctionArn}' },
    ]);
  });

  it('returns nothing for a definition without Task states', () => {
    assert.deepEqual(taskStates({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } }), []);
  });
});

describe('functionNameOf', () => {
  it('extracts the handler module name from a function ARN substitution', () => {
    assert.equal(functionNameOf('${AcquireLeaseFunctionArn}'), 'AcquireLease');
    assert.equal(functionNameOf('${Probe2FunctionArn}'), 'Probe2');
  });

  for (const resource of [
    'arn:aws:lambda:eu-west-1:123456789012:function:kiln-AcquireLease',
    'arn:aws:states:::lambda:invoke',
    '${TableName}',
    '${AcquireLeaseFunctionArn}:$LATEST',
    '${FunctionArn}',
  ]) {
    it(`rejects ${resource}, naming the expected form`, () => {
      assert.throws(
        () => functionNameOf(resource),
        /is not a Kiln function reference.*\$\{<Name>FunctionArn\}/,
      );
    });
  }
});

describe('substitute', () => {
  it('replaces placeholders in nested string values, several per string, leaving other values alone', () => {
    const definition = {
      StartAt: 'A',
      States: {
        A: {
          Type: 'Task',
          Resource: '${AFunctionArn}',
          Parameters: { 'table.$': '$.t', label: '${Env}-${Env}/${Tier}', list: ['${Tier}', 3, true, null] },
          TimeoutSeconds: 30,
          End: true,
        },
      },
    };
    const substitutions = { AFunctionArn: 'arn:a', Env: 'checkout', Tier: 'prod' };

    assert.deepEqual(substitute(definition, substitutions), {
      StartAt: 'A',
      States: {
        A: {
          Type: 'Task',
          Resource: 'arn:a',
          Parameters: { 'table.$': '$.t', label: 'checkout-checkout/prod', list: ['prod', 3, true, null] },
          TimeoutSeconds: 30,
          End: true,
        },
      },
    });
    assert.equal(definition.States.A.Resource, '${AFunctionArn}', 'the input is not mutated');
  });

  it('leaves keys alone', () => {
    assert.deepEqual(substitute({ '${Key}': 'x' }, { Key: 'k' }), { '${Key}': 'x' });
  });

  it('throws naming every unresolved placeholder once', () => {
    const definition = { a: '${TableName}', b: ['${BusName} ${TableName}'], c: '${Known}' };
    assert.throws(() => substitute(definition, { Known: 'k' }), {
      message: 'Unresolved substitution(s): BusName, TableName',
    });
  });

  it('does not treat JSONPath or intrinsic functions as placeholders', () => {
    const value = { 'id.$': "States.Format('{}-{}', $.a, $$.Execution.Name)", 'p.$': '$.x' };
    assert.deepEqual(substitute(value, {}), value);
  });
});

describe('loadDefinition', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-asl-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads an ASL file', () => {
    const path = join(dir, 'ok.asl.json');
    const definition = { StartAt: 'A', States: { A: { Type: 'Pass', End: true } } };
    writeFileSync(path, JSON.stringify(definition));
    assert.deepEqual(loadDefinition(path), definition);
  });

  it('rejects JSON that is not a state machine, naming the file', () => {
    const path = join(dir, 'bad.asl.json');
    writeFileSync(path, JSON.stringify({ States: {} }));
    assert.throws(() => loadDefinition(path), {
      message: `${path} is not a state machine definition: it needs "StartAt" and "States"`,
    });
  });
});

describe('checkDefinition', () => {
  const valid: AslDefinition = {
    StartAt: 'A',
    States: {
      A: { Type: 'Task', Resource: 'arn:aws:lambda:local:000000000000:function:kiln-A', Next: 'B' },
      B: { Type: 'Succeed' },
    },
  };

  it('accepts a valid JSONPath definition without mutating it', () => {
    const copy = structuredClone(valid);
    assert.deepEqual(checkDefinition(valid), []);
    assert.deepEqual(valid, copy);
  });

  it('reports schema and transition errors', () => {
    const problems = checkDefinition({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Missing' } } });
    assert.ok(
      problems.some(
        (problem) => problem.includes('Missing') && problem.startsWith('MISSING_TRANSITION_TARGET'),
      ),
      problems.join('\n'),
    );
  });

  it('reports features the embedded runner ignores, at any depth', () => {
    const problems = checkDefinition({
      QueryLanguage: 'JSONata',
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          End: true,
          ToleratedFailurePercentage: 10,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'INLINE' },
            StartAt: 'Keep',
            States: { Keep: { Type: 'Pass', Assign: { kept: true }, End: true } },
          },
        },
      },
    });

    assert.deepEqual(problems, [
      'QueryLanguage JSONata is silently ignored by the embedded runner: use JSONPath',
      'State "Each": ToleratedFailurePercentage is not supported by the embedded runner',
      'State "Keep": variables (Assign) are not supported by the embedded runner',
    ]);
  });
});
