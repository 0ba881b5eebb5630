import { setTimeout as sleep } from 'node:timers/promises';
import { OfflineProvider } from '../../lib/models/offline.js';
import { ModelError, type ModelReply, type ModelRequest } from '../../lib/models/port.js';

/**
 * A provider for tests, configured by its model reference: `test:delay=500`, `test:fail`,
 * `test:hang`, `test:hang-on=<text>`, or several joined by "," (`test:delay=200,fail`). It answers
 * like the offline provider, labelled "[test]", after the delay; `fail` throws a non-retryable
 * error; `hang` (or `hang-on` when the input contains the text) never answers until the request's
 * signal aborts.
 */
export class TestProvider extends OfflineProvider {
  override readonly id: string;
  private readonly delayMs: number;
  private readonly fail: boolean;
  private readonly hang: boolean;
  private readonly hangOn: string | undefined;

  constructor(spec: string) {
    super();
    this.id = `test:${spec}`;
    const options = new Map(spec.split(',').map((part) => part.split('=') as [string, string | undefined]));
    this.delayMs = Number(options.get('delay') ?? 0);
    this.fail = options.has('fail');
    this.hang = options.has('hang');
    this.hangOn = options.get('hang-on');
  }

  protected override label(agent: string): string {
    return `[test ${agent}]`;
  }

  override async complete(request: ModelRequest): Promise<ModelReply> {
    if (this.hang || (this.hangOn !== undefined && request.input.includes(this.hangOn)))
      await sleep(2 ** 31 - 1, undefined, { signal: request.signal });
    if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: request.signal });
    if (this.fail) throw new ModelError(`${this.id} failed on purpose`, this.id, false);
    return { ...(await super.complete(request)), model: this.id };
  }
}
