/**
 * The release machine's policies, in one list: what policy/index.ts hands to the PolicyPack and
 * what the tests run (importing index.ts would start the pack's gRPC server).
 */
import type { Policies } from "@pulumi/policy";
import { apigatewayMethodAuthorization } from "./apigateway-method-authorization";
import { apigatewayRequestValidation } from "./apigateway-request-validation";
import { apigatewayStageLogging } from "./apigateway-stage-logging";
import { cloudwatchLogRetention } from "./cloudwatch-log-retention";
import { dynamodbEncryption } from "./dynamodb-encryption";
import { dynamodbPointInTimeRecovery } from "./dynamodb-point-in-time-recovery";
import { iamKnownActions } from "./iam-known-actions";
import { iamNoAllowNotAction } from "./iam-no-allow-not-action";
import { iamNoBroadManagedPolicies } from "./iam-no-broad-managed-policies";
import { iamNoWildcardActions } from "./iam-no-wildcard-actions";
import { iamPassRoleScoped } from "./iam-passrole-scoped";
import { iamResourceWildcard } from "./iam-resource-wildcard";
import { iamTrustOneService } from "./iam-trust-one-service";
import { iamTrustSourceConditions } from "./iam-trust-source-conditions";
import { lambdaPermissionSourceArn } from "./lambda-permission-source-arn";
import { lambdaTracingActive } from "./lambda-tracing-active";
import { s3Encryption } from "./s3-encryption";
import { s3PublicAccessBlocked } from "./s3-public-access-blocked";
import { s3TlsOnly } from "./s3-tls-only";
import { s3VersioningEnabled } from "./s3-versioning-enabled";
import { sfnLogging } from "./sfn-logging";
import { snsPublishScoped } from "./sns-publish-scoped";
import { snsTopicEncryption } from "./sns-topic-encryption";
import { sfnTracing } from "./sfn-tracing";

/** Least privilege: every identity, resource and trust policy, and every managed attachment. */
export const leastPrivilegePolicies: Policies = [
  iamNoWildcardActions,
  iamKnownActions,
  iamResourceWildcard,
  iamPassRoleScoped,
  iamNoAllowNotAction,
  iamNoBroadManagedPolicies,
  iamTrustOneService,
  iamTrustSourceConditions,
];

/** Secure defaults of the resources the release machine uses. */
export const secureDefaultPolicies: Policies = [
  s3PublicAccessBlocked,
  s3TlsOnly,
  s3VersioningEnabled,
  s3Encryption,
  dynamodbPointInTimeRecovery,
  dynamodbEncryption,
  apigatewayMethodAuthorization,
  apigatewayRequestValidation,
  apigatewayStageLogging,
  sfnLogging,
  sfnTracing,
  lambdaTracingActive,
  lambdaPermissionSourceArn,
  cloudwatchLogRetention,
  snsTopicEncryption,
  snsPublishScoped,
];

export const policies: Policies = [...leastPrivilegePolicies, ...secureDefaultPolicies];
