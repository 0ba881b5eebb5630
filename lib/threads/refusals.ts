import type { TransitionRefusal } from './ports.js';

/**
 * The order refusals are reported in when several conditions of one transition fail: the version
 * check first, since on a lost race every other condition may be stale too. Every store follows it.
 */
export const REFUSAL_PRECEDENCE: readonly TransitionRefusal[] = [
  'version',
  'lease_lost',
  'turn_exists',
  'turn_state',
  'turn_limit',
];

/** The refusal a transition reports for its failed conditions; undefined when none of them is a refusal. */
export function refusalOf(failed: readonly (TransitionRefusal | 'invariant')[]): TransitionRefusal | undefined {
  return REFUSAL_PRECEDENCE.find((reason) => failed.includes(reason));
}
