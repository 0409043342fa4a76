/**
 * The stack's `notifications` setting: an SNS topic encrypted with its own KMS key, email
 * subscriptions, and one EventBridge rule per notified kind of the family of events
 * (contract/notification-events.ts), each with the topic and every extra `topicArns` as targets and
 * an input transformer that words a readable message with the CLI command to act.
 *
 * - The key is customer managed: EventBridge cannot use the AWS managed key alias/aws/sns, so the
 *   key policy lets events.amazonaws.com use it (kms:Decrypt, kms:GenerateDataKey) for this account's
 *   rules only (aws:SourceAccount).
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
 *   https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html
 * - The topic policy lets EventBridge publish only from this stack's notification rules
 *   (aws:SourceArn), nothing else.
 * - An extra topic in `topicArns` is the owner's: its policy (and its key's, when encrypted) must
 *   let events.amazonaws.com publish from these rules (README, "Notifications").
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  type NotificationFormat,
  type NotificationKind,
  notificationInput,
  notificationPattern,
} from "../contract/notification-events";

export interface NotificationSettings {
  emails: string[];
  topicArns: string[];
  /** The kinds that are sent (DEFAULT_NOTIFICATION_KINDS unless the setting names them). */
  events: NotificationKind[];
  format: NotificationFormat;
}

export interface NotificationArgs {
  name: string;
  settings: NotificationSettings;
  accountId: pulumi.Input<string>;
  partition: pulumi.Input<string>;
}

/** EventBridge's retries, as for the stack's other rules. */
const RETRY_POLICY = { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 };

export function notifications(args: NotificationArgs, opts: pulumi.ComponentResourceOptions) {
  const { name, settings } = args;
  const key = new aws.kms.Key(
    `${name}-notifications-key`,
    {
      description: "Encrypts the release machine's notification topic",
      enableKeyRotation: true,
      policy: keyPolicy(args),
    },
    opts,
  );
  const topic = new aws.sns.Topic(`${name}-notifications`, { kmsMasterKeyId: key.arn }, opts);
  const rules = settings.events.map(
    (kind) =>
      new aws.cloudwatch.EventRule(
        `${name}-notify-${kind.replace(".", "-")}`,
        {
          description: `Notifies ${kind} (contract/notification-events.ts)`,
          eventPattern: JSON.stringify(notificationPattern(kind)),
        },
        opts,
      ),
  );
  const policy = new aws.sns.TopicPolicy(
    `${name}-notifications-policy`,
    { arn: topic.arn, policy: topicPolicy(topic.arn, rules) },
    opts,
  );
  const subscriptions = settings.emails.map(
    (email, i) =>
      new aws.sns.TopicSubscription(
        `${name}-notify-email-${i}`,
        { topic: topic.arn, protocol: "email", endpoint: email },
        opts,
      ),
  );
  const input = notificationInput(settings.format);
  const targets = rules.flatMap((rule, r) =>
    [topic.arn, ...settings.topicArns].map(
      (arn, t) =>
        new aws.cloudwatch.EventTarget(
          `${name}-notify-${settings.events[r].replace(".", "-")}-target-${t}`,
          { rule: rule.name, arn, retryPolicy: RETRY_POLICY, inputTransformer: input },
          { ...opts, dependsOn: [policy] },
        ),
    ),
  );
  return { key, topic, policy, rules, subscriptions, targets };
}

/** The account administers the key through IAM; EventBridge may use it for this account's rules. */
function keyPolicy(args: NotificationArgs): pulumi.Output<string> {
  return pulumi.all([args.partition, args.accountId]).apply(([partition, account]) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "AccountAdministersTheKey",
          Effect: "Allow",
          Principal: { AWS: `arn:${partition}:iam::${account}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "EventBridgePublishesToTheTopic",
          Effect: "Allow",
          Principal: { Service: "events.amazonaws.com" },
          Action: ["kms:Decrypt", "kms:GenerateDataKey"],
          Resource: "*",
          Condition: { StringEquals: { "aws:SourceAccount": account } },
        },
      ],
    }),
  );
}

/** Only this stack's notification rules may publish, and only through EventBridge. */
function topicPolicy(
  topicArn: pulumi.Output<string>,
  rules: aws.cloudwatch.EventRule[],
): pulumi.Output<string> {
  return pulumi.all([topicArn, ...rules.map((r) => r.arn)]).apply(([arn, ...ruleArns]) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "NotificationRulesPublish",
          Effect: "Allow",
          Principal: { Service: "events.amazonaws.com" },
          Action: "sns:Publish",
          Resource: arn,
          Condition: { ArnEquals: { "aws:SourceArn": ruleArns } },
        },
      ],
    }),
  );
}
