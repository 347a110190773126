import { buildAwsPorts } from './aws-ports.ts';
import { readAwsConfig } from './config.ts';
import { compositionRoot } from './wiring.ts';

/** Workflow tasks that launch or terminate instances: every port. */
export const ports = compositionRoot(() => buildAwsPorts(readAwsConfig()));
