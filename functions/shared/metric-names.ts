/**
 * Names of the EMF metrics the functions emit, shared with the CDK alarms and dashboard
 * (infra/constructs/operations-dashboard.ts) so both sides spell them once. Plain data: no
 * Powertools here, so the CDK app can import it. Units, dimensions and when each is emitted:
 * docs/operations.md.
 */
export const METRICS_NAMESPACE = 'threadbound';
/** The `service` dimension every metric carries (POWERTOOLS_SERVICE_NAME of every function). */
export const METRICS_SERVICE = 'threadbound';

export const METRIC = {
  turnDuration: 'TurnDuration',
  turnsSucceeded: 'TurnsSucceeded',
  turnsFailed: 'TurnsFailed',
  turnsTimedOut: 'TurnsTimedOut',
  activeThreadsUtilisation: 'ActiveThreadsUtilisation',
  concurrentTurnsUtilisation: 'ConcurrentTurnsUtilisation',
  limitReached: 'LimitReached',
  modelFallback: 'ModelFallback',
  circuitOpened: 'CircuitOpened',
  circuitClosed: 'CircuitClosed',
  toolDenied: 'ToolDenied',
  secretAccess: 'SecretAccess',
  secretDenied: 'SecretDenied',
  rotationSucceeded: 'RotationSucceeded',
  rotationFailed: 'RotationFailed',
  exposureRisk: 'ExposureRisk',
  auditWriteFailed: 'AuditWriteFailed',
  threadsCleaned: 'ThreadsCleaned',
  leasesReleased: 'LeasesReleased',
  sweepItemsRead: 'SweepItemsRead',
  sweepDuration: 'SweepDuration',
  countersRepaired: 'CountersRepaired',
  threadsMoved: 'ThreadsMoved',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];
