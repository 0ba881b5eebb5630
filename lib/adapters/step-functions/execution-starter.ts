import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { TurnRef, WorkflowStarter } from '../../workflows/turn-workflow.js';

/** Starts turn executions on AWS Step Functions; the execution name is the turnId. */
export class StepFunctionsStarter implements WorkflowStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(executionName: string, input: { turn: TurnRef }): Promise<void> {
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: executionName,
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      // A retried start of the same turn: the execution already runs, which is what we wanted.
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }
}
