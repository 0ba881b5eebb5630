import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AgentCounters, ThreadCounters } from '../../threads/ports.js';
import { readCounters, readCounterVersions, repairCounter } from './counters.js';

/** The counter items (`AGENT#<name>` and `DEPLOYMENT` / `COUNTERS`), read and repaired outside transitions. */
export class DynamoThreadCounters implements ThreadCounters {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  counterVersions(agents: string[]): Promise<Map<string, number>> {
    return readCounterVersions(this.client, this.tableName, agents);
  }

  repairCounters(
    agent: string | undefined,
    values: { activeThreads: number; runningTurns?: number },
    observedChanges: number,
  ): Promise<boolean> {
    return repairCounter(this.client, this.tableName, agent, values, observedChanges);
  }

  counters(agents: string[]): Promise<{ agents: Record<string, AgentCounters>; activeThreads: number }> {
    return readCounters(this.client, this.tableName, agents);
  }
}
