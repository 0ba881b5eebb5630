import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE } from '../../functions/shared/metric-names.js';
import {
  ERROR_RATE_DATAPOINTS,
  ERROR_RATE_EVALUATION_PERIODS,
  ERROR_RATE_MIN_TURNS,
  ERROR_RATE_THRESHOLD_PERCENT,
  UTILISATION_THRESHOLD_PERCENT,
} from '../../infra/constructs/operations-dashboard.js';
import type { ThreadboundStack } from '../../infra/stacks/threadbound-stack.js';
import { loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import {
  CONFIG_PATH,
  type Json,
  logicalIdOf,
  removeTempOutdirs,
  type Synthesized,
  synth,
  unacknowledged,
} from '../support/infra.js';

// The alarms, their topic and the dashboard of issue 8, in the template of the shipped config
// (synthesized once, cdk-nag on, no bundling).

let config: Config;
let synthesized: Synthesized;
let template: Template;
let stack: ThreadboundStack;
beforeAll(() => {
  config = loadConfig(CONFIG_PATH);
  synthesized = synth(config);
  ({ template, stack } = synthesized);
});
afterAll(removeTempOutdirs);

const AGENTS = () => Object.keys(config.agents);
const topicRef = () => ({ Ref: logicalIdOf(stack, stack.operations.topic) });
const alarmsWithMetric = (metricName: string) =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metricName } }));
const dimensionsOf = (alarm: Json) =>
  Object.fromEntries((alarm.Properties.Dimensions as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value]));

describe('the alarm topic', () => {
  it('is encrypted with a rotating customer managed key CloudWatch may use, and refuses plain HTTP', () => {
    const keyId = logicalIdOf(stack, stack.operations.key);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topicRef()],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasOutput('AlarmTopicArn', { Value: topicRef() });
  });
});

describe('the alarms', () => {
  it('fire when an agent uses more than 90 % of maxActiveThreads or of maxConcurrentTurns (one each per configured agent)', () => {
    expect(UTILISATION_THRESHOLD_PERCENT).toBe(90);
    for (const [metricName, limit] of [
      [METRIC.activeThreadsUtilisation, 'maxActiveThreads'],
      [METRIC.concurrentTurnsUtilisation, 'maxConcurrentTurns'],
    ] as const) {
      const alarms = alarmsWithMetric(metricName);
      expect(alarms.map((alarm) => dimensionsOf(alarm).agent).sort(), metricName).toEqual([...AGENTS()].sort());
      for (const alarm of alarms) {
        const agent = dimensionsOf(alarm).agent!;
        expect(dimensionsOf(alarm)).toEqual({ service: 'threadbound', agent });
        expect(alarm.Properties).toMatchObject({
          Namespace: METRICS_NAMESPACE,
          Statistic: 'Maximum',
          Period: 300,
          Threshold: 90,
          ComparisonOperator: 'GreaterThanThreshold',
          EvaluationPeriods: 1,
          AlarmActions: [topicRef()],
        });
        expect(alarm.Properties.AlarmDescription).toContain(
          `${limit} (${(config.agents[agent] as Record<string, unknown>)[limit]})`,
        );
      }
    }
  });

  it("fire on an agent's turn error rate: failed + timed out over all finished turns, by metric math, above 10 % in 2 of 3 periods", () => {
    const alarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { AlarmName: Match.stringLikeRegexp('-turn-error-rate$') },
      }),
    );
    expect(alarms).toHaveLength(AGENTS().length);
    for (const agent of AGENTS()) {
      const alarm = alarms.find((candidate) =>
        (candidate.Properties.Metrics as Json[]).some((m) =>
          m.MetricStat?.Metric.Dimensions.some((d: Json) => d.Name === 'agent' && d.Value === agent),
        ),
      );
      expect(alarm, agent).toBeDefined();
      const { Metrics: metrics, ...properties } = alarm!.Properties;
      expect(properties).toMatchObject({
        Threshold: ERROR_RATE_THRESHOLD_PERCENT,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: ERROR_RATE_EVALUATION_PERIODS,
        DatapointsToAlarm: ERROR_RATE_DATAPOINTS,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef()],
      });
      expect([ERROR_RATE_THRESHOLD_PERCENT, ERROR_RATE_EVALUATION_PERIODS, ERROR_RATE_DATAPOINTS]).toEqual([10, 3, 2]);
      const expression = (metrics as Json[]).find((m) => m.Expression)!;
      expect(expression.Expression).toBe(
        `IF((FILL(succeeded, 0) + FILL(failed, 0) + FILL(timedOut, 0)) >= ${ERROR_RATE_MIN_TURNS}, 100 * (FILL(failed, 0) + FILL(timedOut, 0)) / (FILL(succeeded, 0) + FILL(failed, 0) + FILL(timedOut, 0)), 0)`,
      );
      expect(expression.ReturnData).not.toBe(false);
      const inputs = Object.fromEntries((metrics as Json[]).filter((m) => m.MetricStat).map((m) => [m.Id, m]));
      expect(Object.keys(inputs).sort()).toEqual(['failed', 'succeeded', 'timedOut']);
      for (const [id, name] of [
        ['succeeded', METRIC.turnsSucceeded],
        ['failed', METRIC.turnsFailed],
        ['timedOut', METRIC.turnsTimedOut],
      ] as const) {
        expect(inputs[id]).toMatchObject({
          ReturnData: false,
          MetricStat: { Metric: { Namespace: 'threadbound', MetricName: name }, Stat: 'Sum', Period: 300 },
        });
        expect(new Set(inputs[id].MetricStat.Metric.Dimensions.map((d: Json) => `${d.Name}=${d.Value}`))).toEqual(
          new Set(['service=threadbound', `agent=${agent}`]),
        );
      }
    }
  });

  it("fire on any refusal of an agent's work by a full limit within 5 minutes (LimitReached over every limit, counted when refused)", () => {
    const alarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { AlarmName: Match.stringLikeRegexp('-limit-reached$') },
      }),
    );
    expect(alarms).toHaveLength(AGENTS().length);
    for (const agent of AGENTS()) {
      const alarm = alarms.find((candidate) =>
        (candidate.Properties.Metrics as Json[]).some((m) =>
          m.MetricStat?.Metric.Dimensions.some((d: Json) => d.Name === 'agent' && d.Value === agent),
        ),
      );
      expect(alarm, agent).toBeDefined();
      const { Metrics: metrics, ...properties } = alarm!.Properties;
      expect(properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef()],
      });
      expect((metrics as Json[]).find((m) => m.Expression)!.Expression).toBe(
        'FILL(limit0, 0) + FILL(limit1, 0) + FILL(limit2, 0)',
      );
      const inputs = (metrics as Json[]).filter((m) => m.MetricStat);
      expect(
        inputs.map((m) => m.MetricStat.Metric.Dimensions.find((d: Json) => d.Name === 'limit').Value).sort(),
      ).toEqual(['maxActiveThreads', 'maxConcurrentTurns', 'maxThreads']);
      for (const input of inputs) {
        expect(input).toMatchObject({
          ReturnData: false,
          MetricStat: {
            Metric: { Namespace: 'threadbound', MetricName: METRIC.limitReached },
            Stat: 'Sum',
            Period: 300,
          },
        });
        expect(input.MetricStat.Metric.Dimensions.find((d: Json) => d.Name === 'agent').Value).toBe(agent);
      }
    }
  });

  it('fire on any timed-out turn of an agent within 5 minutes', () => {
    const alarms = alarmsWithMetric(METRIC.turnsTimedOut);
    expect(alarms.map((alarm) => dimensionsOf(alarm).agent).sort()).toEqual([...AGENTS()].sort());
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({
        Namespace: 'threadbound',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef()],
      });
    }
  });

  it('fire on any exposure-risk event, on a metric with no dimension but the service', () => {
    const alarms = alarmsWithMetric(METRIC.exposureRisk);
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.Properties).toMatchObject({
      Namespace: 'threadbound',
      Dimensions: [{ Name: 'service', Value: 'threadbound' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef()],
    });
  });

  it("reuse the rotation alarms (one RotationFailed alarm per rotating secret, and the rotation Lambda's errors), now notifying the topic", () => {
    const rotating = Object.entries(config.secrets)
      .filter(([, secret]) => secret.rotation)
      .map(([name]) => name);
    const failed = alarmsWithMetric(METRIC.rotationFailed);
    expect(failed.map((alarm) => dimensionsOf(alarm).secret).sort()).toEqual(rotating.sort());
    for (const alarm of failed)
      expect(alarm.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        AlarmActions: [topicRef()],
      });
    const errors = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Namespace: 'AWS/Lambda', MetricName: 'Errors' },
      }),
    );
    expect(errors).toHaveLength(rotating.length > 0 ? 1 : 0);
    for (const alarm of errors) expect(alarm.Properties.AlarmActions).toEqual([topicRef()]);
  });

  it("are all of the stack's alarms, and every one notifies the topic", () => {
    const all = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const rotating = Object.values(config.secrets).filter((secret) => secret.rotation).length;
    expect(all).toHaveLength(AGENTS().length * 5 + 1 + rotating + (rotating > 0 ? 1 : 0));
    expect(stack.operations.alarms).toHaveLength(all.length);
    for (const alarm of all) expect(alarm.Properties.AlarmActions).toEqual([topicRef()]);
  });
});

describe('the dashboard', () => {
  it('exists once, shows the state of every alarm and a widget for each metric family', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0]!.Properties.DashboardName).toBe(`${stack.stackName}-operations`);
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    // The alarm status widget names every alarm by its ARN.
    for (const [id] of Object.entries(template.findResources('AWS::CloudWatch::Alarm')))
      expect(body, id).toContain(`"${id}","Arn"`);
    expect(body).toContain('\\"type\\":\\"alarm\\"');
    for (const name of Object.values(METRIC)) expect(body, name).toContain(name);
    template.hasOutput('DashboardName', { Value: { Ref: logicalIdOf(stack, stack.operations.dashboard as never) } });
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the operations constructs (the whole app: test/infra/stack.test.ts)', () => {
    expect(
      unacknowledged(synthesized.report).filter((violation) =>
        violation.violatingConstructs.some((c) => c.constructPath.includes('/Operations/')),
      ),
    ).toEqual([]);
    expect(
      synthesized.synthError === undefined ? undefined : String((synthesized.synthError as Error).message),
    ).toBeUndefined();
  });
});
