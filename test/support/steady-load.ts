/**
 * One kind of answer a client got: its status (0 when none came; `body` then says why), the stack that
 * served it as the proxy names it in `x-kiln-stack` ('' when none is named) and the body's start.
 */
export interface Answer {
  status: number;
  stack: string;
  body: string;
}

/** A request sent more than this after its scheduled time was sent late: the generator fell behind. */
export const LATE_MS = 100;

/**
 * Requests at a steady rate, open loop: the n-th leaves n/rate s after `start` whatever the answers before
 * it are doing (those a busy event loop held back leave at once, counted late if over LATE_MS), each with
 * its own timeout, counting what failed.
 */
export class SteadyLoad {
  readonly failures: string[] = [];
  succeeded = 0;
  /** Requests sent so far, and how many of them left more than LATE_MS after their scheduled time. */
  sent = 0;
  late = 0;
  /** Every answer, by status and body (`200 sample-app 2.0.0`): which versions served, and how. */
  readonly served = new Map<string, number>();
  /** What the requests sent from now on are part of: their answers are counted under it in `answers`. */
  label = '';
  /** Every answer, under the label current when its request was sent, by kind, with its count. */
  readonly answers = new Map<string, Map<string, Answer & { count: number }>>();
  readonly #requestsPerSecond: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(requestsPerSecond: number) {
    this.#requestsPerSecond = requestsPerSecond;
  }

  start(url: string): void {
    const startedAt = performance.now();
    const intervalMs = 1000 / this.#requestsPerSecond;
    this.#timer = setInterval(() => {
      const now = performance.now() - startedAt;
      for (; (this.sent + 1) * intervalMs <= now; this.sent += 1) {
        if (now - (this.sent + 1) * intervalMs > LATE_MS) this.late += 1;
        const request = this.#once(url, this.label);
        this.#inFlight.add(request);
        void request.finally(() => this.#inFlight.delete(request));
      }
    }, intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#inFlight);
  }

  async #once(url: string, label: string): Promise<void> {
    let answer: Answer;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      answer = {
        status: response.status,
        stack: response.headers.get('x-kiln-stack') ?? '',
        body: text.trim().slice(0, 100),
      };
      const key = `${response.status} ${answer.body}`;
      this.served.set(key, (this.served.get(key) ?? 0) + 1);
      if (response.status === 200 && text.startsWith('sample-app ')) this.succeeded += 1;
      else this.failures.push(`${new Date().toISOString()} status ${response.status}: ${text.slice(0, 200)}`);
    } catch (error) {
      answer = { status: 0, stack: '', body: (error as Error).message };
      this.failures.push(`${new Date().toISOString()} ${answer.body}`);
    }
    this.#count(label, answer);
  }

  #count(label: string, answer: Answer): void {
    const kinds = this.answers.get(label) ?? new Map<string, Answer & { count: number }>();
    this.answers.set(label, kinds);
    const key = `${answer.status} ${answer.stack} ${answer.body}`;
    const counted = kinds.get(key) ?? { ...answer, count: 0 };
    counted.count += 1;
    kinds.set(key, counted);
  }
}
