import { judgeCanaryStep } from '../../core/deployment/canary.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state JudgeCanary of the deploy workflow: see `judgeCanaryStep` in functions/core/deployment/canary.ts. */
export const handler = taskHandler(judgeCanaryStep, trafficPorts);
