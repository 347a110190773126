import {
  type CloudWatchClient,
  type MetricDataQuery,
  paginateGetMetricData,
} from '@aws-sdk/client-cloudwatch';

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
