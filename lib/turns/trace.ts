import * as z from 'zod';
import type { ModelAttempt } from '../models/port.js';

/** One tool call of a phase: its name and what came of it, never its input or output. */
export interface ToolTrace {
  name: string;
  allowed: boolean;
  outcome: 'ok' | 'error' | 'denied';
  /** Why it was denied, or the tool's short error. */
  reason?: string;
  ms?: number;
}

/** How one phase of a turn ran (the main answer or plan, one sub-agent's task, or the coalesce phase). */
export interface PhaseTrace {
  phase: 'main' | 'sub' | 'coalesce';
  agent: string;
  /** ISO time the phase began. */
  startedAt: string;
  durationMs: number;
  /** Every attempt of every round of the model chain, in order: the fallbacks and why. */
  models: ModelAttempt[];
  tools: ToolTrace[];
  /** Names (never values) of the secrets resolved in this phase, de-duplicated. */
  secrets: string[];
  /** Entries left out by the caps below (absent when nothing was). */
  omitted?: { models?: number; tools?: number; secrets?: number };
}

/** How a turn ran: its main phase, and its merge when it fanned out (each sub-agent's phase is on its outcome). */
export interface TurnTrace {
  phases: PhaseTrace[];
}

/**
 * Caps that keep a trace small: the turn item (reply, sub-agent outcomes, trace) must stay far below
 * DynamoDB's 400 KB item limit, and the main and coalesce phases also travel in the workflow's 256 KiB
 * state. With these, one phase is at most about 8 KB of JSON (12 models × ~260 B + 16 tools × ~250 B
 * + 8 names), and SUB_TRACES_BUDGET bounds what all sub-agents' phases add to a turn (the Map items
 * carry none: the coalesce phase reads them from the child turns).
 */
export const TRACE_LIMITS = { reasonChars: 160, models: 12, tools: 16, secrets: 8 } as const;

/** Most bytes (as JSON) the sub-agent phase traces of one turn may take; later ones are left to their child turns. */
export const SUB_TRACES_BUDGET = 64_000;

/** Collects one phase's trace as it runs: passed along instead of threading several arrays. */
export class TraceRecorder {
  private readonly started: Date;
  private readonly models: ModelAttempt[] = [];
  private readonly tools: ToolTrace[] = [];
  private readonly secrets = new Set<string>();
  private readonly omitted = { models: 0, tools: 0, secrets: 0 };

  constructor(
    private readonly phase: PhaseTrace['phase'],
    private readonly agent: string,
    /** `redact` scrubs secret values from reasons before they are cut (a cut value would no longer match). */
    private readonly options: { now: () => Date; redact: (text: string) => string },
  ) {
    this.started = options.now();
  }

  /** One attempt of the model chain. */
  model(attempt: ModelAttempt): void {
    if (this.models.length >= TRACE_LIMITS.models) {
      this.omitted.models += 1;
      return;
    }
    this.models.push({ ...attempt, ...(attempt.reason !== undefined ? { reason: this.reason(attempt.reason) } : {}) });
  }

  /** One tool call, allowed or denied. */
  tool(entry: ToolTrace): void {
    if (this.tools.length >= TRACE_LIMITS.tools) {
      this.omitted.tools += 1;
      return;
    }
    this.tools.push({ ...entry, ...(entry.reason !== undefined ? { reason: this.reason(entry.reason) } : {}) });
  }

  /** A secret resolved by name (the value never comes here). */
  secret(name: string): void {
    if (this.secrets.has(name)) return;
    if (this.secrets.size >= TRACE_LIMITS.secrets) this.omitted.secrets += 1;
    else this.secrets.add(name);
  }

  /** The phase's trace so far (a failing phase keeps what it collected). */
  finish(): PhaseTrace {
    const omitted = Object.fromEntries(Object.entries(this.omitted).filter(([, n]) => n > 0));
    return {
      phase: this.phase,
      agent: this.agent,
      startedAt: this.started.toISOString(),
      durationMs: Math.max(0, this.options.now().getTime() - this.started.getTime()),
      models: [...this.models],
      tools: [...this.tools],
      secrets: [...this.secrets],
      ...(Object.keys(omitted).length > 0 ? { omitted } : {}),
    };
  }

  private reason(text: string): string {
    const clean = this.options.redact(text);
    return clean.length > TRACE_LIMITS.reasonChars ? `${clean.slice(0, TRACE_LIMITS.reasonChars - 1)}…` : clean;
  }
}

/**
 * Sub-agent outcomes with their phase traces kept while they fit SUB_TRACES_BUDGET; the trace of any
 * beyond it is dropped here (its child thread's turn still has it).
 */
export function withinTraceBudget<T extends { trace?: PhaseTrace }>(outcomes: T[]): T[] {
  let used = 0;
  return outcomes.map((outcome) => {
    if (!outcome.trace) return outcome;
    used += JSON.stringify(outcome.trace).length;
    if (used <= SUB_TRACES_BUDGET) return outcome;
    const { trace: _dropped, ...rest } = outcome;
    return rest as T;
  });
}

/** The phase trace as workflow payloads carry it (validated where a payload enters a Lambda). */
export const phaseTraceSchema = z.object({
  phase: z.enum(['main', 'sub', 'coalesce']),
  agent: z.string(),
  startedAt: z.string(),
  durationMs: z.number(),
  models: z.array(
    z.object({
      model: z.string(),
      outcome: z.enum(['answered', 'unavailable', 'skipped', 'failed']),
      reason: z.string().optional(),
      status: z.number().optional(),
      ms: z.number().optional(),
    }),
  ),
  tools: z.array(
    z.object({
      name: z.string(),
      allowed: z.boolean(),
      outcome: z.enum(['ok', 'error', 'denied']),
      reason: z.string().optional(),
      ms: z.number().optional(),
    }),
  ),
  secrets: z.array(z.string()),
  omitted: z
    .object({ models: z.number().optional(), tools: z.number().optional(), secrets: z.number().optional() })
    .optional(),
});

/** The turn trace as workflow payloads carry it. */
export const turnTraceSchema = z.object({ phases: z.array(phaseTraceSchema) });

/**
 * Error names the turn workflow's agent states retry (their Retry in turn.asl.json, less the Lambda.*
 * service errors, which our code never throws): DynamoDB throttling.
 */
export const WORKFLOW_RETRIED_ERRORS: readonly string[] = [
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
];

/** Whether the workflow retries the phase that threw this (its error name is the state's Error). */
export function retriedByWorkflow(error: unknown): boolean {
  const name = error instanceof Error ? error.name : undefined;
  return name !== undefined && (WORKFLOW_RETRIED_ERRORS.includes(name) || name.startsWith('Lambda.'));
}
