/**
 * The `notifications` setting under strict Pulumi mocks: validated with errors that name the field
 * and the rule; and, when set, the encrypted topic, its policy scoped to the rules that feed it, the
 * email subscriptions, one rule per notified kind, and each rule's targets (the topic and every
 * extra topic) with the input transformer that words the message.
 */
import assert from "node:assert/strict";
import { SettingsError, readSettings } from "../infra/config";
import { ReleaseMachine } from "../infra/release-machine";
import { policies } from "../policy/policies";
import {
  DEFAULT_NOTIFICATION_KINDS,
  notificationInput,
  notificationPattern,
} from "../contract/notification-events";
import { describeViolations, engineStack, runPolicies } from "./policy-harness";
import { ACCOUNT, DEV_PIPELINES, type RecordedResource, recorded, settle, valueOf } from "./pulumi-mocks";

const base = { pipelines: JSON.stringify(DEV_PIPELINES), deletionProtection: "false" };
const settingsWith = (notifications: unknown) =>
  readSettings((key) => ({ ...base, notifications: JSON.stringify(notifications) })[key as "pipelines"]);
const EXTRA_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:chat-ops`;

function rejects(notifications: unknown, message: RegExp): void {
  assert.throws(
    () => settingsWith(notifications),
    (e: Error) => e instanceof SettingsError && message.test(e.message),
  );
}

describe("the notifications setting", () => {
  it("is off when unset, and defaults to the moments that need a person", () => {
    assert.equal(readSettings((key) => base[key as keyof typeof base]).notifications, undefined);
    assert.deepEqual(settingsWith({ emails: ["ops@example.com"] }).notifications, {
      emails: ["ops@example.com"],
      topicArns: [],
      events: ["gate.opened", "release.failed", "release.frozen", "release.succeeded"],
      format: "text",
    });
  });

  it("names the field and the rule of each mistake", () => {
    rejects("ops@example.com", /release-machine:notifications must be an object \{ emails, topicArns/);
    rejects(
      { emails: ["not an address"] },
      /notifications\.emails has addresses SNS cannot send to: not an address/,
    );
    rejects({ emails: "ops@example.com" }, /notifications\.emails must be a list of strings/);
    rejects(
      { topicArns: ["arn:aws:sqs:eu-west-1:1:q"] },
      /notifications\.topicArns has values that are not SNS topic ARNs/,
    );
    rejects(
      { topicArns: [1, 2, 3, 4, 5].map((n) => `${EXTRA_TOPIC}-${n}`) },
      /lists 5 topics; a rule has at most 5 targets/,
    );
    rejects(
      { events: ["gate.opend"] },
      /notifications\.events has unknown kinds gate\.opend; the kinds are release\.started/,
    );
    rejects({ events: [] }, /notifications\.events is empty/);
    rejects({ format: "slack" }, /notifications\.format must be text \(email\) or chat/);
    rejects({ email: ["ops@example.com"] }, /notifications has unknown keys email/);
  });
});

describe("the notification resources, built under the mocks", function () {
  this.timeout(120000);
  let built: RecordedResource[] = [];
  before(async () => {
    const start = recorded.length;
    const machine = new ReleaseMachine("notify", {
      settings: settingsWith({
        emails: ["ops@example.com", "leads@example.com"],
        topicArns: [EXTRA_TOPIC],
        events: ["gate.opened", "release.failed"],
      }),
    });
    await valueOf(machine.curlExample);
    await settle();
    built = recorded.splice(start);
  });
  const of = (type: string) => built.filter((r) => r.type === type);
  const one = (type: string) => {
    const [found, ...more] = of(type);
    assert.ok(found && more.length === 0, `one ${type}`);
    return found;
  };

  it("encrypt the topic with its own rotating key, which EventBridge may use for this account only", () => {
    const key = one("aws:kms/key:Key");
    const topic = one("aws:sns/topic:Topic");
    assert.equal(topic.inputs.kmsMasterKeyId, key.state.arn);
    assert.equal(key.inputs.enableKeyRotation, true);
    const policy = JSON.parse(String(key.inputs.policy)) as { Statement: Record<string, unknown>[] };
    const events = policy.Statement.find((s) => s.Sid === "EventBridgePublishesToTheTopic");
    assert.deepEqual(events, {
      Sid: "EventBridgePublishesToTheTopic",
      Effect: "Allow",
      Principal: { Service: "events.amazonaws.com" },
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: "*",
      Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } },
    });
  });

  it("make one rule per notified kind, with that kind's pattern", () => {
    const rules = of("aws:cloudwatch/eventRule:EventRule").filter((r) => r.name.startsWith("notify-notify-"));
    assert.deepEqual(
      rules.map((r) => [r.name, JSON.parse(String(r.inputs.eventPattern))]),
      [
        ["notify-notify-gate-opened", notificationPattern("gate.opened")],
        ["notify-notify-release-failed", notificationPattern("release.failed")],
      ],
    );
  });

  it("let only those rules publish to the topic", () => {
    const topic = one("aws:sns/topic:Topic");
    const policy = one("aws:sns/topicPolicy:TopicPolicy");
    assert.equal(policy.inputs.arn, topic.state.arn);
    assert.deepEqual(JSON.parse(String(policy.inputs.policy)).Statement, [
      {
        Sid: "NotificationRulesPublish",
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: "sns:Publish",
        Resource: topic.state.arn,
        Condition: {
          ArnEquals: {
            "aws:SourceArn": [
              `arn:aws:events:ap-southeast-2:${ACCOUNT}:rule/notify-notify-gate-opened-rule`,
              `arn:aws:events:ap-southeast-2:${ACCOUNT}:rule/notify-notify-release-failed-rule`,
            ],
          },
        },
      },
    ]);
  });

  it("subscribe each address by email", () => {
    const topic = one("aws:sns/topic:Topic");
    assert.deepEqual(
      of("aws:sns/topicSubscription:TopicSubscription").map((s) => [
        s.inputs.topic,
        s.inputs.protocol,
        s.inputs.endpoint,
      ]),
      [
        [topic.state.arn, "email", "ops@example.com"],
        [topic.state.arn, "email", "leads@example.com"],
      ],
    );
  });

  it("target the topic and every extra topic from each rule, with the readable message", () => {
    const topic = one("aws:sns/topic:Topic");
    const targets = of("aws:cloudwatch/eventTarget:EventTarget").filter((t) =>
      t.name.startsWith("notify-notify-"),
    );
    const { inputPaths, inputTemplate } = notificationInput("text");
    assert.deepEqual(
      targets.map((t) => [String(t.inputs.rule), String(t.inputs.arn)]).sort(),
      [
        ["notify-notify-gate-opened-rule", String(topic.state.arn)],
        ["notify-notify-gate-opened-rule", EXTRA_TOPIC],
        ["notify-notify-release-failed-rule", String(topic.state.arn)],
        ["notify-notify-release-failed-rule", EXTRA_TOPIC],
      ].sort(),
    );
    for (const target of targets)
      assert.deepEqual(target.inputs.inputTransformer, { inputPaths, inputTemplate });
  });

  it("pass the policy pack", async () => {
    const result = await runPolicies(policies, engineStack(built));
    assert.deepEqual(result.violations, [], describeViolations(result));
  });

  it("notify the default kinds when the setting names no events", () => {
    assert.deepEqual(DEFAULT_NOTIFICATION_KINDS, [
      "gate.opened",
      "release.failed",
      "release.frozen",
      "release.succeeded",
    ]);
    assert.deepEqual(
      settingsWith({ topicArns: [EXTRA_TOPIC] }).notifications?.events,
      DEFAULT_NOTIFICATION_KINDS,
    );
  });
});
