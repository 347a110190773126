import type { Secrets } from '../../core/ports/secrets.ts';

/** Embedded Kiln's edge secrets, as the composition root read them from its environment. */
export interface EnvSecretValues {
  /** The GitHub webhook secret (X-Hub-Signature-256). */
  github: string;
}

/**
 * Secrets given at construction, kept in private fields (not shown when the object is logged or
 * serialised). An empty secret is refused at once, as a missing variable is: an HMAC keyed with nothing
 * proves nothing.
 */
export class EnvSecrets implements Secrets {
  readonly #github: string;

  constructor(values: EnvSecretValues) {
    if (typeof values?.github !== 'string' || values.github === '') {
      throw new TypeError('The GitHub webhook secret is required and must not be empty');
    }
    this.#github = values.github;
  }

  async githubWebhookSecret(): Promise<string> {
    return this.#github;
  }
}
