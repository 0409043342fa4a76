/**
 * The notification resources' policies: topics encrypted with a rotating customer managed key,
 * and publish scoped to named sources in topic and key policies (policy/sns-*.ts).
 */
import assert from "node:assert/strict";
import { policies } from "../policy/policies";
import { type EngineResource, assertOnly, describeViolations, runPolicies } from "./policy-harness";

const ACCOUNT = "123456789012";
const TOPIC_ARN = `arn:aws:sns:eu-west-1:${ACCOUNT}:notifications`;
const RULE_ARN = `arn:aws:events:eu-west-1:${ACCOUNT}:rule/notify-gate-opened`;
type Json = Record<string, unknown>;

const document = (...statements: Json[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });
const publish = (extra: Json = {}): Json => ({
  Sid: "NotificationRulesPublish",
  Effect: "Allow",
  Principal: { Service: "events.amazonaws.com" },
  Action: "sns:Publish",
  Resource: TOPIC_ARN,
  Condition: { ArnEquals: { "aws:SourceArn": [RULE_ARN] } },
  ...extra,
});
const useKey = (extra: Json = {}): Json => ({
  Sid: "EventBridgePublishesToTheTopic",
  Effect: "Allow",
  Principal: { Service: "events.amazonaws.com" },
  Action: ["kms:Decrypt", "kms:GenerateDataKey"],
  Resource: "*",
  Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } },
  ...extra,
});

function goodStack(): EngineResource[] {
  return [
    {
      type: "aws:kms/key:Key",
      name: "notifications-key",
      props: { enableKeyRotation: true, policy: document(useKey()) },
    },
    {
      type: "aws:sns/topic:Topic",
      name: "notifications",
      props: { kmsMasterKeyId: "arn:aws:kms:x:y:key/k" },
    },
    {
      type: "aws:sns/topicPolicy:TopicPolicy",
      name: "notifications-policy",
      props: { arn: TOPIC_ARN, policy: document(publish()) },
    },
  ];
}

function changed(name: string, edit: (props: Json) => void): EngineResource[] {
  const stack = goodStack();
  const resource = stack.find((r) => r.name === name);
  if (!resource) throw new Error(`no ${name}`);
  edit(resource.props);
  return stack;
}

describe("the notification resources' policies", () => {
  it("pass a topic encrypted with a rotating key, published to only from named rules", async () => {
    const result = await runPolicies(policies, goodStack());
    assert.deepEqual(result.violations, [], describeViolations(result));
  });

  it("reject a topic without encryption", async () => {
    const stack = changed("notifications", (props) => delete props.kmsMasterKeyId);
    assertOnly(
      await runPolicies(policies, stack),
      "sns-topic-encrypted-cmk",
      "notifications",
      /is not encrypted/,
    );
  });

  it("reject a topic encrypted with alias/aws/sns, which EventBridge cannot use", async () => {
    const stack = changed("notifications", (props) => (props.kmsMasterKeyId = "alias/aws/sns"));
    assertOnly(
      await runPolicies(policies, stack),
      "sns-topic-encrypted-cmk",
      "notifications",
      /uses alias\/aws\/sns, which EventBridge cannot use/,
    );
  });

  it("reject a key that does not rotate", async () => {
    const stack = changed("notifications-key", (props) => (props.enableKeyRotation = false));
    assertOnly(
      await runPolicies(policies, stack),
      "sns-topic-encrypted-cmk",
      "notifications-key",
      /does not rotate/,
    );
  });

  it("reject a topic policy that lets EventBridge publish from any rule", async () => {
    const stack = changed("notifications-policy", (props) => {
      props.policy = document(publish({ Condition: undefined }));
    });
    assertOnly(
      await runPolicies(policies, stack),
      "sns-publish-scoped",
      "notifications-policy",
      /statement "NotificationRulesPublish" allows a service without aws:sourcearn/,
    );
  });

  it('reject a topic policy that lets "*" publish', async () => {
    const stack = changed("notifications-policy", (props) => {
      props.policy = document(publish({ Principal: { AWS: "*" } }));
    });
    assertOnly(
      await runPolicies(policies, stack),
      "sns-publish-scoped",
      "notifications-policy",
      /allows principal "\*"/,
    );
  });

  it("reject a key policy that lets a service use the key for any account", async () => {
    const stack = changed("notifications-key", (props) => {
      props.policy = document(useKey({ Condition: undefined }));
    });
    assertOnly(
      await runPolicies(policies, stack),
      "sns-publish-scoped",
      "notifications-key",
      /allows a service without aws:sourcearn or aws:sourceaccount/,
    );
  });

  it("check the topic policy's actions like any other permission document", async () => {
    const stack = changed("notifications-policy", (props) => {
      props.policy = document(publish({ Action: "sns:Publsh" }));
    });
    const result = await runPolicies(policies, stack);
    assert.ok(
      result.violations.some((v) => v.policy === "iam-known-actions" && /sns:Publsh/.test(v.message)),
      describeViolations(result),
    );
  });
});
