/** Secrets Kiln holds for its edges (Secrets Manager on AWS, read once; the environment embedded). */
export interface Secrets {
  /** The secret GitHub signs webhook deliveries with (X-Hub-Signature-256). */
  githubWebhookSecret(): Promise<string>;
}
