import { type Counters, sumOf } from './meter.js';
import { round } from './stats.js';

/** What one turn costs in requests, request units, transitions and Lambda time (means over the metered turns). */
export interface TurnCounts {
  turns: number;
  /** DynamoDB requests by command, and their total, for the turn itself (submit + workflow). */
  dynamoRequests: Record<string, number>;
  /** DynamoDB requests by phase: submit, workflow, poll (the long polls), authorizer (API key reads). */
  dynamoRequestsByPhase: Record<string, number>;
  /** Request units DynamoDB reported (ReturnConsumedCapacity), all phases but the authorizer's. */
  requestUnits: { read: number; write: number; writeIndexes: number; authorizerRead: number };
  stepFunctionsTransitions: number;
  apiRequests: number;
  /** Per function kind: invocations and billed milliseconds per turn (agent, turn-control, turns-submit, turns-get). */
  lambda: Record<string, { invocations: number; billedMs: number }>;
  getSecretValue: number;
}

const PHASES = ['submit', 'workflow', 'poll', 'authorizer'];

/** Per-turn figures from the counters that moved during `turns` metered turns. */
export function turnCounts(delta: Counters, turns: number): TurnCounts {
  const byCommand: Record<string, number> = {};
  for (const [name, value] of delta) {
    const [kind, phase, command] = name.split('.');
    if (kind === 'ddb' && (phase === 'submit' || phase === 'workflow'))
      byCommand[command!] = round((byCommand[command!] ?? 0) + value / turns);
  }
  const lambda: TurnCounts['lambda'] = {};
  for (const [name, value] of delta) {
    const match = /^lambda\.(.+)\.invocations$/.exec(name);
    if (match)
      lambda[match[1]!] = {
        invocations: round(value / turns),
        billedMs: round((delta.get(`lambda.${match[1]}.billedMs`) ?? 0) / turns),
      };
  }
  return {
    turns,
    dynamoRequests: { ...byCommand, total: round(Object.values(byCommand).reduce((a, b) => a + b, 0)) },
    dynamoRequestsByPhase: Object.fromEntries(
      PHASES.map((phase) => [phase, round(sumOf(delta, `ddb.${phase}`, '', turns))]),
    ),
    requestUnits: {
      read: round(
        ['submit', 'workflow', 'poll'].reduce((sum, phase) => sum + (delta.get(`rru.${phase}`) ?? 0), 0) / turns,
      ),
      write: round(
        ['submit', 'workflow', 'poll'].reduce((sum, phase) => sum + (delta.get(`wru.${phase}`) ?? 0), 0) / turns,
      ),
      writeIndexes: round(sumOf(delta, 'wruIndex', '', turns)),
      authorizerRead: round((delta.get('rru.authorizer') ?? 0) / turns),
    },
    stepFunctionsTransitions: round((delta.get('sfn.transitions') ?? 0) / turns),
    apiRequests: round((delta.get('api.requests') ?? 0) / turns),
    lambda,
    getSecretValue: round((delta.get('secrets.GetSecretValue') ?? 0) / turns),
  };
}
