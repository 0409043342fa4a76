/**
 * APIGateway.1 (REST API stages have execution logging at ERROR or INFO), plus access logging
 * (docs/architecture.md, "Security defaults" "logging on"): every stage has method settings covering every method (method
 * path star-slash-star) with loggingLevel ERROR or INFO, and accessLogSettings naming a
 * destination. A stack policy, because method settings are a separate resource that names its
 * API and stage.
 */
import * as aws from "@pulumi/aws";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { referencedTarget } from "./stack-joins";

const LEVELS = ["ERROR", "INFO"];

function loggingLevel(settings: PolicyResource): unknown {
  const values: unknown = settings.props.settings;
  return isRecord(values) ? values.loggingLevel : undefined;
}

export const apigatewayStageLogging: StackValidationPolicy = {
  name: "apigateway-stage-logging",
  description:
    "Every API Gateway stage has execution logging (ERROR or INFO) for all methods and access logging.",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateStack: (args, reportViolation) => {
    const stages = args.resources.filter((r) => r.isType(aws.apigateway.Stage));
    const allMethods = args.resources
      .filter((r) => r.isType(aws.apigateway.MethodSettings) && r.props.methodPath === "*/*")
      .map((settings) => ({
        settings,
        stage: referencedTarget(
          settings,
          "stageName",
          stages,
          (stage, name) => stage.props.stageName === name && stage.props.restApi === settings.props.restApi,
        ),
      }));
    for (const stage of stages) {
      const subject = `API stage "${stage.name}"`;
      const mine = allMethods.filter((m) => m.stage === stage).map((m) => m.settings);
      const logging = mine.find((settings) => LEVELS.includes(String(loggingLevel(settings))));
      if (!logging) {
        reportViolation(
          mine.length === 0
            ? `${subject} has no method settings for "*/*", so execution logging is off. Add aws.apigateway.MethodSettings { methodPath: "*/*", settings: { loggingLevel: "INFO" } }.`
            : `${subject} logs executions at ${mine.map((s) => JSON.stringify(loggingLevel(s) ?? "OFF")).join(", ")}. Set settings.loggingLevel to "ERROR" or "INFO" in "${mine[0].name}".`,
          stage.urn,
        );
      }
      const access: unknown = stage.props.accessLogSettings;
      if (!isRecord(access) || !access.destinationArn) {
        reportViolation(
          `${subject} has no access logs. Set accessLogSettings: { destinationArn: <log group ARN>, format: ... }.`,
          stage.urn,
        );
      }
    }
  },
};
