import { SFNClient } from '@aws-sdk/client-sfn';
import { StepFunctionsStarter } from '../../../lib/adapters/step-functions/execution-starter.js';
import { TurnService } from '../../../lib/turns/service.js';
import { tracer } from '../tracer.js';
import { config } from './config.js';
import { requiredEnv } from './env.js';
import { threadStore } from './thread-store.js';

const sfn = tracer.captureAWSv3Client(new SFNClient({}));

// The state machine ARN is only read when a turn starts, so functions that start none need not set it.
/** Turns: submit, read, claim, finish; a started turn runs in the turn state machine. */
export const turns = new TurnService(config, threadStore, {
  start: (name, input) => new StepFunctionsStarter(sfn, requiredEnv('STATE_MACHINE_ARN')).start(name, input),
});
