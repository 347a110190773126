import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { kilnStack, testApp } from './kiln-template.ts';

interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

/** Every cdk-nag acknowledgement in the tree, where it was made. */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([id, reason]) => ({ path: construct.node.path, id: id.replace(/^annotation::/i, ''), reason }))
      .filter((acknowledgement) => acknowledgement.id.startsWith('AwsSolutions-')),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('passes synth with zero unacknowledged findings, errors and warnings alike', () => {
    const app = testApp();
    kilnStack(app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // cdk-nag 3 reports through CDK's policy validation: a violation makes synth throw "Validation failed".
    const assembly = app.synth({ force: true });
    const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ pluginName: string; conclusion: string; violations: unknown[] }>;
    };
    for (const plugin of report.pluginReports) {
      assert.equal(plugin.conclusion, 'success', JSON.stringify(plugin.violations, null, 2));
    }
    assert.deepEqual(new AwsSolutionsChecks().validateScope(app).violations, []);
  });

  it('fails synth on a finding nobody acknowledged', () => {
    const app = testApp();
    new Topic(kilnStack(app), 'UnencryptedTopic');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    assert.throws(() => app.synth({ force: true }), /Validation failed/);
  });

  it('has an acknowledgement only where a finding is, on the construct it concerns, with a reason', () => {
    const app = testApp();
    const stack = kilnStack(app);
    const pack = new AwsSolutionsChecks();
    // See every finding, acknowledged or not.
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    const findings = pack.validateScope(app).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({
        id: violation.ruleName,
        path: resource.constructPath,
      })),
    );
    const acknowledged = acknowledgements(app);
    assert.ok(acknowledged.length > 0);
    for (const { path, id, reason } of acknowledged) {
      assert.notEqual(path, stack.node.path, `${id} is acknowledged for the whole stack`);
      assert.ok(
        findings.some((finding) => finding.id === id && `${finding.path}/`.startsWith(`${path}/`)),
        `${id} at ${path} acknowledges no finding`,
      );
      assert.ok(reason.length >= 60 && reason.includes(' '), `${id} at ${path}: "${reason}" is not a reason`);
    }
    // And the converse: every finding is acknowledged by exactly the acknowledgements above.
    for (const finding of findings) {
      assert.ok(
        acknowledged.some(({ path, id }) => id === finding.id && `${finding.path}/`.startsWith(`${path}/`)),
        `${finding.id} at ${finding.path} is not acknowledged`,
      );
    }
  });
});
