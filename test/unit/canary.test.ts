import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { targetGroupMetrics } from '../../functions/adapters/aws/alb-request-counts.ts';
import { canarySplit, DEFAULT_CANARY_ANALYSIS, judgeCanary } from '../../functions/core/canary.ts';

const analysis = { maxErrorRate: 0.05, maxP99Ms: 200, minRequests: 20 };

describe('a canary step', () => {
  it('splits traffic: the new stack its share, the live stack the rest, any other stack nothing', () => {
    assert.deepEqual(canarySplit('app-v0002', 'app-v0001', 20, ['app-v0001', 'app-v0002', 'app-v0000']), {
      'app-v0000': 0,
      'app-v0001': 80,
      'app-v0002': 20,
    });
  });

  it('passes within the error rate and latency, and says so with its numbers', () => {
    assert.deepEqual(judgeCanary({ requests: 100, errors: 5, p99Ms: 120 }, analysis), {
      verdict: 'passed',
      detail: '100 requests, 5 errors (5 % ≤ 5 %), p99 120 ms (≤ 200 ms)',
    });
  });

  it('fails on errors (5xx and connection failures) above the rate, or on latency above the p99 asked', () => {
    assert.equal(judgeCanary({ requests: 100, errors: 6, p99Ms: 120 }, analysis).verdict, 'failed');
    assert.deepEqual(judgeCanary({ requests: 100, errors: 0, p99Ms: 250 }, analysis), {
      verdict: 'failed',
      detail: '100 requests, 0 errors (0 % ≤ 5 %), p99 250 ms (> 200 ms)',
    });
  });

  it('judges nothing on too few requests: "not enough data", recorded', () => {
    const judgement = judgeCanary({ requests: 3, errors: 3 }, analysis);
    assert.equal(judgement.verdict, 'not-enough-data');
    assert.match(judgement.detail, /^3 requests, 3 errors \(100 % > 5 %\); 20 needed$/);
    assert.deepEqual(DEFAULT_CANARY_ANALYSIS, { maxErrorRate: 0.01, minRequests: 20 });
  });
});

describe('a target group’s metrics from CloudWatch', () => {
  const cloudWatch = mockClient(CloudWatchClient);
  const listenerArn =
    'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/kiln/50dc6c495c0c9188/f2f7dc8efc522ab2';
  const targetGroupArn =
    'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/kiln-app-v0002/73e2d6bc24d8a067';
  beforeEach(() => cloudWatch.reset());

  it('reads requests, 5xx, connection errors and the p99 of the stack’s target group over the whole step', async () => {
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'requests', Values: [120] },
        { Id: 'errors5xx', Values: [4] },
        { Id: 'connectionErrors', Values: [1] },
        { Id: 'p99', Values: [0.0815] },
      ],
    });
    const metrics = await targetGroupMetrics(new CloudWatchClient({ region: 'eu-west-1' }), {
      listenerArn,
      targetGroupArn,
      since: '2026-12-02T10:00:30.000Z',
      now: new Date('2026-12-02T10:03:10.000Z'),
    });
    assert.deepEqual(metrics, { requests: 120, errors: 5, p99Ms: 82 });
    const [call] = cloudWatch.commandCalls(GetMetricDataCommand);
    const input = call?.args[0].input;
    assert.deepEqual(input?.StartTime, new Date('2026-12-02T10:00:00.000Z'));
    const stats = input?.MetricDataQueries?.map((query) => [
      query.MetricStat?.Metric?.MetricName,
      query.MetricStat?.Stat,
      query.MetricStat?.Period,
    ]);
    assert.deepEqual(stats, [
      ['RequestCount', 'Sum', 240],
      ['HTTPCode_Target_5XX_Count', 'Sum', 240],
      ['TargetConnectionErrorCount', 'Sum', 240],
      ['TargetResponseTime', 'p99', 240],
    ]);
    assert.deepEqual(input?.MetricDataQueries?.[0]?.MetricStat?.Metric?.Dimensions, [
      { Name: 'TargetGroup', Value: 'targetgroup/kiln-app-v0002/73e2d6bc24d8a067' },
      { Name: 'LoadBalancer', Value: 'app/kiln/50dc6c495c0c9188' },
    ]);
  });

  it('counts nothing where CloudWatch has no data yet', async () => {
    cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'requests', Values: [] }] });
    const metrics = await targetGroupMetrics(new CloudWatchClient({ region: 'eu-west-1' }), {
      listenerArn,
      targetGroupArn,
      since: '2026-12-02T10:00:30.000Z',
      now: new Date('2026-12-02T10:01:10.000Z'),
    });
    assert.deepEqual(metrics, { requests: 0, errors: 0 });
  });
});
