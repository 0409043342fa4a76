/**
 * docs/architecture.md, "Security defaults" "request validation on" (no Security Hub control): every method that takes a
 * body (POST, PUT, PATCH, and ANY, which includes them) names a request validator that validates bodies, and registers a model
 * for the "$default" content type too: API Gateway skips body validation for a Content-Type that
 * has no model, so without "$default" a caller bypasses the schema by changing one header.
 * A stack policy, because the validator is a separate resource.
 *
 * One exemption, by name: a method whose `operationName` is one of SELF_VALIDATED_OPERATIONS (the
 * submission function's `POST /releases` and `POST /`), whose Lambda checks the body with the
 * manifest schema and rules itself and answers every problem (docs/architecture.md, "Data flow").
 */
import * as aws from "@pulumi/aws";
import type { StackValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { SELF_VALIDATED_OPERATIONS } from "../contract/manifest-schema";
import { referencedTarget } from "./stack-joins";

const WITH_BODY = ["POST", "PUT", "PATCH", "ANY"];

export const apigatewayRequestValidation: StackValidationPolicy = {
  name: "apigateway-request-validation",
  description:
    "Every POST/PUT/PATCH/ANY API method validates its body with a request validator and a $default model.",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateStack: (args, reportViolation) => {
    const validators = args.resources.filter((r) => r.isType(aws.apigateway.RequestValidator));
    for (const method of args.resources) {
      const props = method.asType(aws.apigateway.Method);
      if (!props || !WITH_BODY.includes(String(props.httpMethod).toUpperCase())) continue;
      if (SELF_VALIDATED_OPERATIONS.includes(String(props.operationName))) continue;
      const subject = `API method "${method.name}" (${props.httpMethod})`;
      if (!props.requestValidatorId) {
        reportViolation(
          `${subject} has no request validator, so any body reaches the integration. Set requestValidatorId to an aws.apigateway.RequestValidator with validateRequestBody: true.`,
          method.urn,
        );
      } else {
        const validator = referencedTarget(
          method,
          "requestValidatorId",
          validators,
          (v, id) => v.props.id === id,
        );
        if (!validator) {
          reportViolation(
            `${subject} names request validator ${props.requestValidatorId}, which is not in this stack, so whether it validates bodies cannot be checked. Use a RequestValidator declared in this stack.`,
            method.urn,
          );
        } else if (validator.props.validateRequestBody !== true) {
          reportViolation(
            `${subject} uses request validator "${validator.name}", which does not validate bodies. Set validateRequestBody: true on it.`,
            method.urn,
          );
        }
      }
      const models = isRecord(props.requestModels) ? Object.keys(props.requestModels) : [];
      if (models.length === 0) {
        reportViolation(
          `${subject} has no request model, so there is no schema to validate its body against. Set requestModels: { "application/json": model.name, $default: model.name }.`,
          method.urn,
        );
      } else if (!models.includes("$default")) {
        reportViolation(
          `${subject} has models only for ${models.join(", ")}: a body sent with any other Content-Type skips validation. Add the same model for "$default".`,
          method.urn,
        );
      }
    }
  },
};
