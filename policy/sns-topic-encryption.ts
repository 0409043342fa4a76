/**
 * SNS.1 (topics encrypted at rest with KMS), with a customer managed key: every topic names a
 * kmsMasterKeyId, and not the AWS managed key alias/aws/sns, whose key policy EventBridge (the
 * notification rules' publisher) cannot be granted. The key rotates.
 * https://docs.aws.amazon.com/sns/latest/dg/sns-server-side-encryption.html
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";

export const AWS_MANAGED_SNS_KEY = "alias/aws/sns";

export const snsTopicEncryption: ResourceValidationPolicy = {
  name: "sns-topic-encrypted-cmk",
  description: "Every SNS topic is encrypted with a customer managed KMS key (not alias/aws/sns).",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (args.type === "aws:kms/key:Key") {
      if (args.props.enableKeyRotation !== true)
        reportViolation(`KMS key "${args.name}" does not rotate. Set enableKeyRotation: true.`);
      return;
    }
    if (args.type !== "aws:sns/topic:Topic") return args.notApplicable("only SNS topics and KMS keys");
    const key: unknown = args.props.kmsMasterKeyId;
    if (typeof key !== "string" || key === "") {
      reportViolation(
        `SNS topic "${args.name}" is not encrypted. Set kmsMasterKeyId to a customer managed key whose policy lets events.amazonaws.com use it.`,
      );
    } else if (key === AWS_MANAGED_SNS_KEY || key.endsWith(`:${AWS_MANAGED_SNS_KEY}`)) {
      reportViolation(
        `SNS topic "${args.name}" uses ${AWS_MANAGED_SNS_KEY}, which EventBridge cannot use to publish. Set kmsMasterKeyId to a customer managed key.`,
      );
    }
  },
};
