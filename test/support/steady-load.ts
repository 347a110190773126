/** Requests at a steady rate (one every 1000/rate ms, each with its own timeout), counting what failed. */
export class SteadyLoad {
  readonly failures: string[] = [];
  succeeded = 0;
  /** Every answer, by status and body (`200 sample-app 2.0.0`): which versions served, and how. */
  readonly served = new Map<string, number>();
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(requestsPerSecond: number) {
    this.#intervalMs = 1000 / requestsPerSecond;
  }

  start(url: string): void {
    this.#timer = setInterval(() => {
      const request = this.#once(url);
      this.#inFlight.add(request);
      void request.finally(() => this.#inFlight.delete(request));
    }, this.#intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#inFlight);
  }

  async #once(url: string): Promise<void> {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      const answer = `${response.status} ${text.trim().slice(0, 100)}`;
      this.served.set(answer, (this.served.get(answer) ?? 0) + 1);
      if (response.status === 200 && text.startsWith('sample-app ')) this.succeeded += 1;
      else this.failures.push(`${new Date().toISOString()} status ${response.status}: ${text.slice(0, 200)}`);
    } catch (error) {
      this.failures.push(`${new Date().toISOString()} ${(error as Error).message}`);
    }
  }
}
