import {
  type CloudWatchClient,
  type MetricDataQuery,
  paginateGetMetricData,
} from '@aws-sdk/client-cloudwatch';
import type { StackMetrics } from '../../core/ports/traffic.ts';

/** CloudWatch's finest period for the ALB's metrics: activity is known to the minute. */
const PERIOD_SECONDS = 60;

export interface RequestCountQuery {
  /** The ALB listener, whose ARN names the load balancer. */
  listenerArn: string;
  targetGroupArns: readonly string[];
  /** ISO time: minutes ending before the one it falls in are not read. */
  since: string;
  now: Date;
}

/**
 * The end of the latest minute in which the ALB counted a request to any of the target groups (the
 * `RequestCount` metric per target group and load balancer, summed per minute, from the minute `since`
 * falls in to now), never later than now; undefined when none was counted. The ALB publishes a target
 * group's count only for minutes with requests, and a minute or two late.
 */
export async function latestRequestMinute(
  cloudWatch: CloudWatchClient,
  query: RequestCountQuery,
): Promise<string | undefined> {
  if (query.targetGroupArns.length === 0) return undefined;
  const period = PERIOD_SECONDS * 1000;
  const loadBalancer = loadBalancerOf(query.listenerArn);
  const queries: MetricDataQuery[] = query.targetGroupArns.map((targetGroupArn, index) => ({
    Id: `requests${index}`,
    MetricStat: {
      Metric: {
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'RequestCount',
        Dimensions: [
          { Name: 'TargetGroup', Value: resourceOf(targetGroupArn, 'targetgroup/') },
          { Name: 'LoadBalancer', Value: loadBalancer },
        ],
      },
      Period: PERIOD_SECONDS,
      Stat: 'Sum',
    },
    ReturnData: true,
  }));
  let latest: number | undefined;
  for await (const page of paginateGetMetricData(
    { client: cloudWatch },
    {
      MetricDataQueries: queries,
      StartTime: new Date(Math.floor(Date.parse(query.since) / period) * period),
      EndTime: query.now,
      ScanBy: 'TimestampDescending',
    },
  )) {
    for (const result of page.MetricDataResults ?? []) {
      for (const [index, timestamp] of (result.Timestamps ?? []).entries()) {
        if ((result.Values?.[index] ?? 0) > 0) latest = Math.max(latest ?? 0, timestamp.getTime() + period);
      }
    }
  }
  return latest === undefined ? undefined : new Date(Math.min(latest, query.now.getTime())).toISOString();
}

export interface TargetGroupMetricsQuery {
  listenerArn: string;
  targetGroupArn: string;
  since: string;
  now: Date;
}

/**
 * One target group's traffic since `since` (a canary step's judgement), from the ALB's per-target-group
 * metrics: `RequestCount`; errors as `HTTPCode_Target_5XX_Count` plus `TargetConnectionErrorCount` (the
 * target could not be reached: the ALB answered 502 for it); and the p99 of `TargetResponseTime`, in ms.
 * Summed over one period spanning the whole window, so that each metric is one value.
 */
export async function targetGroupMetrics(
  cloudWatch: CloudWatchClient,
  query: TargetGroupMetricsQuery,
): Promise<StackMetrics> {
  const start = new Date(Math.floor(Date.parse(query.since) / 60_000) * 60_000);
  const seconds = Math.max(60, Math.ceil((query.now.getTime() - start.getTime()) / 60_000) * 60);
  const dimensions = [
    { Name: 'TargetGroup', Value: resourceOf(query.targetGroupArn, 'targetgroup/') },
    { Name: 'LoadBalancer', Value: loadBalancerOf(query.listenerArn) },
  ];
  const stat = (Id: string, MetricName: string, Stat: string): MetricDataQuery => ({
    Id,
    MetricStat: {
      Metric: { Namespace: 'AWS/ApplicationELB', MetricName, Dimensions: dimensions },
      Period: seconds,
      Stat,
    },
    ReturnData: true,
  });
  const values = new Map<string, number>();
  for await (const page of paginateGetMetricData(
    { client: cloudWatch },
    {
      MetricDataQueries: [
        stat('requests', 'RequestCount', 'Sum'),
        stat('errors5xx', 'HTTPCode_Target_5XX_Count', 'Sum'),
        stat('connectionErrors', 'TargetConnectionErrorCount', 'Sum'),
        stat('p99', 'TargetResponseTime', 'p99'),
      ],
      StartTime: start,
      EndTime: query.now,
    },
  )) {
    for (const result of page.MetricDataResults ?? []) {
      const sum = (result.Values ?? []).reduce((total, value) => total + value, 0);
      if (result.Id && (result.Values ?? []).length > 0) values.set(result.Id, sum);
    }
  }
  const p99Seconds = values.get('p99');
  return {
    requests: values.get('requests') ?? 0,
    errors: (values.get('errors5xx') ?? 0) + (values.get('connectionErrors') ?? 0),
    ...(p99Seconds !== undefined ? { p99Ms: Math.round(p99Seconds * 1000) } : {}),
  };
}

/** The resource part of an ELB ARN from `prefix` on, as CloudWatch's dimensions name it: `targetgroup/<name>/<id>`. */
function resourceOf(arn: string, prefix: string): string {
  const start = arn.indexOf(`:${prefix}`);
  if (start < 0) throw new Error(`${arn} is not the ARN of an ELB ${prefix.split('/')[0]}`);
  return arn.slice(start + 1);
}

/** `app/<name>/<id>`, the LoadBalancer dimension, from the listener's `listener/app/<name>/<id>/<listener id>`. */
function loadBalancerOf(listenerArn: string): string {
  return resourceOf(listenerArn, 'listener/app/').split('/').slice(1, 4).join('/');
}
