import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger of every handler. Never log specs or events whole: `spec.env` may hold secrets.
 * POWERTOOLS_LOG_LEVEL (e.g. SILENT in tests) sets the level.
 */
export const logger = new Logger({ serviceName: 'kiln' });
