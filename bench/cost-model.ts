import type { DeployedFunction } from './scenarios/cold-start.js';
import { round } from './stats.js';
import type { TurnCounts } from './turn-counts.js';

/**
 * AWS list prices the cost model assumes: us-east-1, on-demand, no free tier, first pricing tier,
 * as published on the services' pricing pages (checked 2025; DynamoDB's on-demand prices since the
 * 2024-11-01 reduction). Dollars per unit.
 */
export const PRICES = {
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1e6,
  dynamoPerWriteRequestUnit: 0.625 / 1e6,
  dynamoPerReadRequestUnit: 0.125 / 1e6,
  stepFunctionsStandardPerTransition: 0.025 / 1e3,
  apiGatewayHttpPerRequest: 1.0 / 1e6,
  secretsManagerPerApiCall: 0.05 / 1e4,
} as const;

/** Where each price comes from. */
export const PRICE_SOURCES = {
  region: 'us-east-1, on-demand list prices, no free tier, first tier',
  lambda:
    'aws.amazon.com/lambda/pricing (arm64: $0.0000133334 per GB-s for the first 7.5 billion GB-s/month; $0.20 per million requests)',
  dynamodb:
    'aws.amazon.com/dynamodb/pricing/on-demand ($0.625 per million write request units, $0.125 per million read request units, since 2024-11-01)',
  stepFunctions: 'aws.amazon.com/step-functions/pricing (Standard: $0.025 per 1,000 state transitions)',
  apiGateway: 'aws.amazon.com/api-gateway/pricing (HTTP APIs: $1.00 per million requests, first 300 million)',
  secretsManager:
    'aws.amazon.com/secrets-manager/pricing ($0.05 per 10,000 API calls; the $0.40 per secret-month is not per turn)',
  checked: '2025',
};

/** The memory of the function kinds the turn path invokes, from the synthesized template (default: ThreadboundFunction's 512 MB). */
export function memoryByKind(functions: DeployedFunction[] | undefined): Record<string, number> {
  const memory: Record<string, number> = {};
  for (const fn of functions ?? []) {
    const kind = fn.name.startsWith('Handlers/')
      ? fn.name.slice('Handlers/'.length)
      : fn.name.startsWith('TurnWorkflow/Agent-')
        ? 'agent'
        : fn.name === 'TurnWorkflow/TurnControl'
          ? 'turn-control'
          : fn.name;
    memory[kind] = Math.max(memory[kind] ?? 0, fn.memoryMB);
  }
  return memory;
}

const DEFAULT_MEMORY_MB = 512;

/** Dollars per million turns of one kind of turn, from its measured per-turn counts. */
export function costPerMillionTurns(counts: TurnCounts, memoryMB: Record<string, number>) {
  let lambdaRequests = 0;
  let gbSeconds = 0;
  for (const [kind, { invocations, billedMs }] of Object.entries(counts.lambda)) {
    lambdaRequests += invocations;
    gbSeconds += (billedMs / 1000) * ((memoryMB[kind] ?? DEFAULT_MEMORY_MB) / 1024);
  }
  const perTurn = {
    lambda: lambdaRequests * PRICES.lambdaPerRequest + gbSeconds * PRICES.lambdaArmPerGbSecond,
    dynamodb:
      counts.requestUnits.read * PRICES.dynamoPerReadRequestUnit +
      counts.requestUnits.write * PRICES.dynamoPerWriteRequestUnit,
    stepFunctions: counts.stepFunctionsTransitions * PRICES.stepFunctionsStandardPerTransition,
    apiGateway: counts.apiRequests * PRICES.apiGatewayHttpPerRequest,
    secretsManager: counts.getSecretValue * PRICES.secretsManagerPerApiCall,
  };
  const dollars = Object.fromEntries(
    Object.entries(perTurn).map(([service, value]) => [service, round(value * 1e6)]),
  ) as Record<keyof typeof perTurn, number>;
  return {
    units: {
      lambdaRequests: round(lambdaRequests),
      lambdaGbSeconds: Math.round(gbSeconds * 1e5) / 1e5,
      dynamoReadUnits: counts.requestUnits.read,
      dynamoWriteUnits: counts.requestUnits.write,
      stepFunctionsTransitions: counts.stepFunctionsTransitions,
      apiRequests: counts.apiRequests,
      getSecretValue: counts.getSecretValue,
    },
    dollarsPerMillionTurns: { ...dollars, total: round(Object.values(perTurn).reduce((a, b) => a + b, 0) * 1e6) },
  };
}

/**
 * What each further second of model latency adds per million turns: the agent's Lambda and the
 * client's long poll both run that second longer (the long poll's own reads are left out: about
 * five eventually consistent GetItems a second, $0.0006 per thousand turns).
 */
export function dollarsPerModelSecond(memoryMB: Record<string, number>): number {
  const gb = ((memoryMB.agent ?? DEFAULT_MEMORY_MB) + (memoryMB['turns-get'] ?? DEFAULT_MEMORY_MB)) / 1024;
  return round(gb * PRICES.lambdaArmPerGbSecond * 1e6);
}
