/**
 * API Gateway reads every model as JSON Schema draft 4 and refuses, at deploy time, a model its
 * metaschema refuses ("Invalid model schema specified"). Pulumi's mocks accept any string, so each
 * model the program registers is checked here against the draft-4 metaschema itself, with an
 * engine written for draft 4 (ajv-draft-04), not by hand.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-create-model.html
 */
import assert from "node:assert/strict";
import Ajv from "ajv-draft-04";
import { CONTROL_BODY_SCHEMAS } from "../contract/control-routes";
import { loadProgram, ofType } from "./pulumi-mocks";

const draft4 = new Ajv({ allErrors: true, strict: false });

function metaschemaProblems(schema: unknown): string[] {
  if (draft4.validateSchema(schema as object)) return [];
  return (draft4.errors ?? []).map((e) => `${e.instancePath || "(schema)"} ${e.message ?? e.keyword}`);
}

describe("the API's models, as API Gateway reads them", function () {
  // Loading the whole program under mocks, as test/program.test.ts allows it.
  this.timeout(60000);
  before(async () => {
    await loadProgram();
  });

  it("registers models that the draft-4 metaschema accepts, every one of them", () => {
    const models = ofType("aws:apigateway/model:Model");
    assert.ok(models.length >= 3, `expected the three control models, got ${models.length}`);
    for (const model of models) {
      const schema = JSON.parse(String(model.inputs.schema)) as { $schema?: string };
      assert.equal(schema.$schema, "http://json-schema.org/draft-04/schema#", model.name);
      assert.deepEqual(metaschemaProblems(schema), [], model.name);
    }
  });

  it("refuses, as API Gateway does, an object model with an empty required list", () => {
    const problems = metaschemaProblems({
      $schema: "http://json-schema.org/draft-04/schema#",
      type: "object",
      required: [],
    });
    assert.deepEqual(problems, ["/required must NOT have fewer than 1 items"]);
  });

  it("leaves required out of the control bodies that require nothing", () => {
    assert.equal("required" in CONTROL_BODY_SCHEMAS.CancelRequest, false);
    assert.equal("required" in CONTROL_BODY_SCHEMAS.RetryRequest, false);
    assert.deepEqual(CONTROL_BODY_SCHEMAS.ApprovalDecision.required, ["decision"]);
  });
});
