import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type DynamoDbLocal, startDynamoDbLocal } from '../infra/local/dynamodb-local.js';
import { type LocalStack, startLocalStack } from '../infra/local/stack.js';
// The fan-out bench's sub-agents answer through the test provider (`test:delay=…`).
import '../test/support/register-test-provider.js';
import { type FakeOpenAI, startFakeOpenAI } from '../test/support/fake-openai.js';
import { benchConfig, KEYED_SECRET_ID } from './config.js';
import { apiPhase, instrumentClients, instrumentWorkflow, recordApiCall } from './instrument.js';
import { Meter } from './meter.js';

/** The API key of the benchmark's tenant. */
export const BENCH_KEY = 'bench-key-0000000000000000000000';
/** How long a long poll of the realistic client waits (seconds; the API allows up to 25). */
const LONG_POLL_SECONDS = 20;
/** The schedules (recovery, idle sweep, rotation) are pushed out of the run: their requests would pollute the counts. */
const NO_SCHEDULES_MS = 3_600_000;

/** A turn's view as GET /v1/threads/{sessionKey}/turns/{turnId} returns it (the fields the bench reads). */
export interface TurnView {
  turnId: string;
  status: string;
  startedAt: string;
  endedAt: string;
  error?: unknown;
  subAgents?: { startedAt: string; endedAt: string }[];
}

/** DynamoDB Local, the loopback fake OpenAI and the local stack, instrumented, with an API client. */
export interface Bench {
  stack: LocalStack;
  dynamo: DynamoDbLocal;
  fakeOpenAI: FakeOpenAI;
  meter: Meter;
  /** One API call as a client makes it. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Spawns a thread of `agent` with the given key. */
  spawn(agent: string, sessionKey: string): Promise<void>;
  /** Submits a turn and polls it every 5 ms until it succeeded: the latency a client sees, and the turn. */
  runTurn(sessionKey: string, input: string): Promise<{ turn: TurnView; clientMs: number }>;
  /**
   * A turn as a real client makes it, one at a time: submit, one long poll, then waits for the
   * workflow to end. Each API call is metered as a Lambda invocation of its handler.
   */
  meteredTurn(sessionKey: string, input: string): Promise<TurnView>;
  /** Waits until no workflow runs and the counters caught up: take a meter snapshot only then. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** Milliseconds between the start and the end of something with ISO timestamps. */
export const serverMs = (span: { startedAt: string; endedAt: string }): number =>
  Date.parse(span.endedAt) - Date.parse(span.startedAt);

/** Starts everything the in-process scenarios need. */
export async function startBench(): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), 'tb-bench-'));
  // The fake provider's key exists only in this process and the local Secrets Manager; never printed.
  const providerKey = `sk-bench-${randomBytes(16).toString('hex')}`;
  const fakeOpenAI = await startFakeOpenAI({ acceptKeys: [providerKey] });
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(benchConfig(fakeOpenAI.url)));
  const dynamo = await startDynamoDbLocal();
  const stack = await startLocalStack({
    port: 0,
    dataDir: dir,
    configPath,
    dynamoEndpoint: dynamo.endpoint,
    localKeys: `${BENCH_KEY}:bench`,
    recoveryIntervalMs: NO_SCHEDULES_MS,
    cleanupIntervalMs: NO_SCHEDULES_MS,
    rotationCheckIntervalMs: NO_SCHEDULES_MS,
  });
  const sm = new SecretsManagerClient({
    endpoint: stack.secretsManager.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await sm.send(new CreateSecretCommand({ Name: KEYED_SECRET_ID, SecretString: providerKey }));
  sm.destroy();

  const meter = new Meter();
  await instrumentClients(meter);
  const restoreWorkflow = instrumentWorkflow(meter);

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${BENCH_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const submit = async (sessionKey: string, input: string): Promise<string> => {
    const { status, body } = await call('POST', `/v1/threads/${sessionKey}/turns`, { input });
    if (status !== 202) throw new Error(`submit on ${sessionKey}: ${status} ${JSON.stringify(body)}`);
    return body.turnId as string;
  };
  const final = (turn: TurnView) => {
    if (turn.status === 'succeeded') return true;
    if (turn.status !== 'running' && turn.status !== 'queued')
      throw new Error(`turn ${turn.turnId} ${turn.status}: ${JSON.stringify(turn.error)}`);
    return false;
  };

  // A turn is final before its execution ends (the finish returns after its write), and the
  // transition counter reads the execution's event log asynchronously: wait for both.
  const settle = async () => {
    await stack.stepFunctions.idle();
    await sleep(1);
  };

  return {
    stack,
    dynamo,
    fakeOpenAI,
    meter,
    call,
    async spawn(agent, sessionKey) {
      const { status, body } = await call('POST', '/v1/threads', { agent, sessionKey });
      if (status !== 201) throw new Error(`spawn ${sessionKey}: ${status} ${JSON.stringify(body)}`);
    },
    async runTurn(sessionKey, input) {
      const started = performance.now();
      const turnId = await submit(sessionKey, input);
      for (;;) {
        const { body: turn } = await call('GET', `/v1/threads/${sessionKey}/turns/${turnId}`);
        if (final(turn)) return { turn, clientMs: performance.now() - started };
        await sleep(5);
      }
    },
    async meteredTurn(sessionKey, input) {
      const timed = async <T>(phase: string, handler: string, run: () => Promise<T>): Promise<T> => {
        apiPhase.current = phase;
        const started = performance.now();
        try {
          return await run();
        } finally {
          recordApiCall(meter, handler, performance.now() - started);
          apiPhase.current = 'api';
        }
      };
      const turnId = await timed('submit', 'turns-submit', () => submit(sessionKey, input));
      let turn: TurnView;
      do
        turn = (
          await timed('poll', 'turns-get', () =>
            call('GET', `/v1/threads/${sessionKey}/turns/${turnId}?wait=${LONG_POLL_SECONDS}`),
          )
        ).body;
      while (!final(turn));
      await settle();
      return turn;
    },
    settle,
    async stop() {
      restoreWorkflow();
      await stack.stop();
      await dynamo.stop();
      await fakeOpenAI.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
