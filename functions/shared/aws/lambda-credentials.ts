import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * What the Lambda bundles use in place of `@aws-sdk/credential-provider-node` (an esbuild alias, see
 * HANDLER_BUNDLE in infra/constructs/functions.ts): in Lambda the execution role's credentials are
 * always in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), so the rest
 * of the default chain (profiles, SSO, STS web identity, the instance metadata service) is never used
 * there, yet its clients are about 40 % of a bundle and of its cold import. Hybrid mode and the tests
 * run the sources with the full chain. Exports the names the SDK clients import from the real module.
 */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}) => fromEnv(init);

/** The environment's credentials last the function's lifetime: Lambda refreshes them between invocations. */
export const credentialsWillNeedRefresh = (): boolean => false;
export const credentialsTreatedAsExpired = (): boolean => false;
