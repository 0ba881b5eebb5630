import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE, type MetricName } from '../../functions/shared/metric-names.js';
import { rateIntervalMs } from '../../lib/config/schedule.js';
import type { Config } from '../../lib/config/schema.js';

/** Alarm thresholds and periods (docs/operations.md lists them with a runbook line each). */
export const OPERATIONS_PERIOD = Duration.minutes(5);
/** Percent of maxActiveThreads / maxConcurrentTurns in use above which an agent's utilisation alarm fires. */
export const UTILISATION_THRESHOLD_PERCENT = 90;
/** Percent of an agent's finished turns that failed or timed out above which its error-rate alarm fires. */
export const ERROR_RATE_THRESHOLD_PERCENT = 10;
/** Fewer finished turns than this in a period count as a 0 % error rate (one failure of one turn is no rate). */
export const ERROR_RATE_MIN_TURNS = 5;
/** The error-rate alarm fires when this many of the last ERROR_RATE_EVALUATION_PERIODS periods breach. */
export const ERROR_RATE_DATAPOINTS = 2;
export const ERROR_RATE_EVALUATION_PERIODS = 3;

/** Props of the {@link OperationsDashboard}. */
export interface OperationsDashboardProps {
  /** The validated config: its agents get the per-agent alarms, its cleanup schedule sets the utilisation period. */
  readonly config: Config;
  /**
   * Alarms other constructs already own that must notify too (the per-secret RotationFailed alarms
   * and the rotation Lambda's Errors alarm): given the topic's action and shown, never duplicated.
   */
  readonly rotationAlarms?: readonly cloudwatch.Alarm[];
}

/** One agent's alarms. */
export interface AgentAlarms {
  readonly activeThreads: cloudwatch.Alarm;
  readonly concurrentTurns: cloudwatch.Alarm;
  readonly errorRate: cloudwatch.Alarm;
  readonly timeouts: cloudwatch.Alarm;
  /** LimitReached ≥ 1: a full limit refused the agent's work (catches the spikes the swept utilisation gauges miss). */
  readonly limitReached: cloudwatch.Alarm;
}

/**
 * The operator's view of a deployment: an SNS topic every alarm notifies (encrypted with its own
 * customer managed key, which CloudWatch may use to publish; TLS only), the alarms (per configured
 * agent: utilisation of maxActiveThreads and of maxConcurrentTurns above 90 %, any refusal by a full
 * limit, turn error rate, timed-out turns; any exposure-risk event; the rotation alarms passed in) and one CloudWatch
 * dashboard with the metrics of docs/operations.md and the state of every alarm.
 */
export class OperationsDashboard extends Construct {
  /** Where every alarm sends its ALARM notification: subscribe to it after deploying. */
  readonly topic: sns.Topic;
  /** The topic's encryption key. */
  readonly key: kms.Key;
  /** The alarms of each configured agent, by name. */
  readonly agentAlarms: ReadonlyMap<string, AgentAlarms>;
  /** ExposureRisk ≥ 1: a secret value was redacted from outgoing data. */
  readonly exposureAlarm: cloudwatch.Alarm;
  /** Every alarm that notifies the topic (the rotation alarms included). */
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const agents = Object.keys(props.config.agents);

    this.key = new kms.Key(this, 'AlarmTopicKey', {
      description: `Encrypts ${stack.stackName}'s alarm notifications (SNS topic)`,
      enableKeyRotation: true,
    });
    // CloudWatch publishes to an encrypted topic only with a customer managed key it may use (the
    // AWS managed SNS key does not let it), and only for this account's alarms.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${stack.stackName} alarms`,
      masterKey: this.key,
      enforceSSL: true,
    });
    const notify = new SnsAction(this.topic);

    const utilisationPeriod = Duration.millis(
      Math.max(
        OPERATIONS_PERIOD.toMilliseconds(),
        rateIntervalMs(props.config.threadManagement.cleanupSchedule) ?? OPERATIONS_PERIOD.toMilliseconds(),
      ),
    );
    const agentAlarms = new Map<string, AgentAlarms>();
    for (const agent of agents) {
      const limits = props.config.agents[agent]!;
      const utilisation = (name: MetricName, limit: string, max: number, id: string) =>
        new cloudwatch.Alarm(this, `${id}-${agent}`, {
          alarmName: `${stack.stackName}-${agent}-${id === 'ActiveThreads' ? 'active-threads' : 'concurrent-turns'}-above-${UTILISATION_THRESHOLD_PERCENT}pct`,
          alarmDescription:
            `Agent "${agent}" uses more than ${UTILISATION_THRESHOLD_PERCENT} % of its ${limit} (${max}); at 100 % it refuses new work with 429. ` +
            `Check \`GET /v1/agents\` (or \`threadbound agents\`), then raise ${limit} in threadbound.config.json and redeploy, or find what holds the slots.`,
          metric: agentMetric(name, agent, cloudwatch.Stats.MAXIMUM, utilisationPeriod),
          threshold: UTILISATION_THRESHOLD_PERCENT,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.MISSING,
        });
      const sum = (name: MetricName) => agentMetric(name, agent, cloudwatch.Stats.SUM, OPERATIONS_PERIOD);
      agentAlarms.set(agent, {
        activeThreads: utilisation(
          METRIC.activeThreadsUtilisation,
          'maxActiveThreads',
          limits.maxActiveThreads,
          'ActiveThreads',
        ),
        concurrentTurns: utilisation(
          METRIC.concurrentTurnsUtilisation,
          'maxConcurrentTurns',
          limits.maxConcurrentTurns,
          'ConcurrentTurns',
        ),
        errorRate: new cloudwatch.Alarm(this, `ErrorRate-${agent}`, {
          alarmName: `${stack.stackName}-${agent}-turn-error-rate`,
          alarmDescription:
            `More than ${ERROR_RATE_THRESHOLD_PERCENT} % of agent "${agent}"'s turns failed or timed out (at least ${ERROR_RATE_MIN_TURNS} turns in 5 minutes, ${ERROR_RATE_DATAPOINTS} of ${ERROR_RATE_EVALUATION_PERIODS} periods). ` +
            "Read the failed turns' `error` and trace (`GET /v1/threads/{sessionKey}/turns/{turnId}`) and the agent Lambda's logs (filter level ERROR/WARN, agent); look at the ModelFallback and CircuitOpened widgets for a provider outage.",
          metric: errorRate(sum(METRIC.turnsSucceeded), sum(METRIC.turnsFailed), sum(METRIC.turnsTimedOut), agent),
          threshold: ERROR_RATE_THRESHOLD_PERCENT,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: ERROR_RATE_EVALUATION_PERIODS,
          datapointsToAlarm: ERROR_RATE_DATAPOINTS,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        timeouts: new cloudwatch.Alarm(this, `Timeouts-${agent}`, {
          alarmName: `${stack.stackName}-${agent}-turn-timeouts`,
          alarmDescription:
            `A turn of agent "${agent}" ran past its timeout (${limits.timeout}) in the last 5 minutes and ended timed_out. ` +
            "Read the turn's trace for the slow phase (a model, a tool, a sub-agent); raise the agent's timeout only if the work is legitimately slow.",
          metric: sum(METRIC.turnsTimedOut),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        // Counted when the refusal happens, not sampled by the sweep: a burst that fills the agent
        // for a minute between two sweeps still alarms.
        limitReached: new cloudwatch.Alarm(this, `LimitReached-${agent}`, {
          alarmName: `${stack.stackName}-${agent}-limit-reached`,
          alarmDescription:
            `A full limit refused agent "${agent}"'s work in the last 5 minutes (maxActiveThreads ${limits.maxActiveThreads}, maxConcurrentTurns ${limits.maxConcurrentTurns} or the deployment's maxThreads): ` +
            'clients got 429 with Retry-After, or queued turns waited for a slot. The LimitReached widget names the limit; check `GET /v1/agents`, then raise that limit in threadbound.config.json and redeploy, or find what holds the slots.',
          metric: limitReached(agent),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      });
    }
    this.agentAlarms = agentAlarms;

    this.exposureAlarm = new cloudwatch.Alarm(this, 'ExposureRisk', {
      alarmName: `${stack.stackName}-secret-exposure-risk`,
      alarmDescription:
        'A secret value was about to leave a function (log line, API response, workflow output, model output) and was redacted. Nothing leaked, but something ' +
        'put a secret where it does not belong: the function\'s log has a WARN "exposure risk" line naming the secret (never its value); find the code path, and ' +
        'rotate the secret if the value could have left by another way.',
      metric: serviceMetric(METRIC.exposureRisk, cloudwatch.Stats.SUM),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const rotationAlarms = props.rotationAlarms ?? [];
    this.alarms = [
      ...[...agentAlarms.values()].flatMap((a) => [
        a.activeThreads,
        a.concurrentTurns,
        a.limitReached,
        a.errorRate,
        a.timeouts,
      ]),
      this.exposureAlarm,
      ...rotationAlarms,
    ];
    for (const alarm of this.alarms) alarm.addAlarmAction(notify);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-operations`,
      defaultInterval: Duration.hours(3),
    });
    const perAgent = (name: MetricName, statistic: string) =>
      agents.map((agent) => agentMetric(name, agent, statistic, OPERATIONS_PERIOD).with({ label: agent }));
    const search = (name: MetricName, dimension: string, statistic = 'Sum') =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},service,${dimension}} MetricName="${name}"', '${statistic}', ${OPERATIONS_PERIOD.toSeconds()})`,
        label: name,
        period: OPERATIONS_PERIOD,
      });
    const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
    const utilisationAxis = {
      leftYAxis: { min: 0, max: 100, label: '%', showUnits: false },
      leftAnnotations: [{ value: UTILISATION_THRESHOLD_PERCENT, label: 'alarm', color: cloudwatch.Color.RED }],
    };
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...this.alarms], width: 24, height: 4 }),
    );
    this.dashboard.addWidgets(
      graph('Turns finished (per agent)', [
        ...perAgent(METRIC.turnsSucceeded, 'Sum'),
        ...perAgent(METRIC.turnsFailed, 'Sum'),
        ...perAgent(METRIC.turnsTimedOut, 'Sum'),
      ]),
      graph('Turn duration p90 (ms, per agent)', perAgent(METRIC.turnDuration, 'p90')),
      graph(
        'Turn error rate (%, per agent)',
        agents.map((agent, i) => {
          const sum = (name: MetricName) => agentMetric(name, agent, cloudwatch.Stats.SUM, OPERATIONS_PERIOD);
          return errorRate(
            sum(METRIC.turnsSucceeded),
            sum(METRIC.turnsFailed),
            sum(METRIC.turnsTimedOut),
            agent,
            `_${i}`,
          );
        }),
        { leftYAxis: { min: 0, label: '%', showUnits: false } },
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'maxActiveThreads in use (%)',
        agents.map((agent) =>
          agentMetric(METRIC.activeThreadsUtilisation, agent, cloudwatch.Stats.MAXIMUM, utilisationPeriod).with({
            label: agent,
          }),
        ),
        utilisationAxis,
      ),
      graph(
        'maxConcurrentTurns in use (%)',
        agents.map((agent) =>
          agentMetric(METRIC.concurrentTurnsUtilisation, agent, cloudwatch.Stats.MAXIMUM, utilisationPeriod).with({
            label: agent,
          }),
        ),
        utilisationAxis,
      ),
      graph('Timed-out turns (per agent)', perAgent(METRIC.turnsTimedOut, 'Sum')),
    );
    this.dashboard.addWidgets(
      graph('Refused by a full limit (agent, limit)', [search(METRIC.limitReached, 'agent,limit')]),
    );
    this.dashboard.addWidgets(
      graph('Model fallbacks (agent, provider)', [search(METRIC.modelFallback, 'agent,provider')]),
      graph('Circuits opened / closed (provider)', [
        search(METRIC.circuitOpened, 'provider'),
        search(METRIC.circuitClosed, 'provider'),
      ]),
      graph('Tool calls denied (agent, tool)', [search(METRIC.toolDenied, 'agent,tool')]),
    );
    this.dashboard.addWidgets(
      graph('Secret accesses / denials (secret)', [
        search(METRIC.secretAccess, 'secret'),
        search(METRIC.secretDenied, 'secret'),
      ]),
      graph('Rotations (secret)', [
        search(METRIC.rotationSucceeded, 'secret'),
        search(METRIC.rotationFailed, 'secret'),
      ]),
      graph('Exposure-risk events', [serviceMetric(METRIC.exposureRisk, cloudwatch.Stats.SUM)]),
    );
    this.dashboard.addWidgets(
      graph(
        'Cleanup (idle sweep, recovery, reconciliation)',
        [
          METRIC.threadsCleaned,
          METRIC.leasesReleased,
          METRIC.countersRepaired,
          METRIC.threadsMoved,
          METRIC.auditWriteFailed,
        ].map((name) => serviceMetric(name, cloudwatch.Stats.SUM)),
      ),
      graph('Idle sweep: items read, duration (ms)', [serviceMetric(METRIC.sweepItemsRead, cloudwatch.Stats.SUM)], {
        right: [serviceMetric(METRIC.sweepDuration, cloudwatch.Stats.MAXIMUM)],
      }),
    );
  }
}

/** A metric the functions emit with an `agent` dimension (functions/shared/metric-names.ts). */
function agentMetric(name: MetricName, agent: string, statistic: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE, agent },
    statistic,
    period,
  });
}

/** The limits whose refusals LimitReached counts (its `limit` dimension). */
export const LIMITS = ['maxActiveThreads', 'maxConcurrentTurns', 'maxThreads'] as const;

/** An agent's refusals by any full limit in a period: the sum of its LimitReached{agent, limit} counts. */
function limitReached(agent: string): cloudwatch.MathExpression {
  const usingMetrics = Object.fromEntries(
    LIMITS.map((limit, i) => [
      `limit${i}`,
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: METRIC.limitReached,
        dimensionsMap: { service: METRICS_SERVICE, agent, limit },
        statistic: cloudwatch.Stats.SUM,
        period: OPERATIONS_PERIOD,
      }),
    ]),
  );
  return new cloudwatch.MathExpression({
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    label: agent,
    period: OPERATIONS_PERIOD,
  });
}

/** A metric with no dimension but `service`. */
function serviceMetric(name: MetricName, statistic: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE },
    statistic,
    period: OPERATIONS_PERIOD,
  });
}

/** Percent of finished turns that failed or timed out; 0 below ERROR_RATE_MIN_TURNS turns (and with none: periods without turns have no data). */
function errorRate(
  succeeded: cloudwatch.Metric,
  failed: cloudwatch.Metric,
  timedOut: cloudwatch.Metric,
  agent: string,
  idSuffix = '',
): cloudwatch.MathExpression {
  // Ids are unique per graph: a widget showing every agent's rate gives each its own suffix.
  const [s, f, t] = ['succeeded', 'failed', 'timedOut'].map((id) => `${id}${idSuffix}`);
  const total = `FILL(${s}, 0) + FILL(${f}, 0) + FILL(${t}, 0)`;
  const errors = `FILL(${f}, 0) + FILL(${t}, 0)`;
  return new cloudwatch.MathExpression({
    expression: `IF((${total}) >= ${ERROR_RATE_MIN_TURNS}, 100 * (${errors}) / (${total}), 0)`,
    usingMetrics: { [s!]: succeeded, [f!]: failed, [t!]: timedOut },
    label: agent,
    period: OPERATIONS_PERIOD,
  });
}
