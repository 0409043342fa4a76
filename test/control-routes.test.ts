/**
 * The control routes are declared once (contract/control-routes.ts); API Gateway's resources, the
 * control Lambda's dispatch and the local server's routing all read that table.
 */
import assert from "node:assert/strict";
import { CONTROL_ROUTES, matchControlRoute, pathParameterNames } from "../contract/control-routes";

describe("the control routes", () => {
  it("resolve a request path to its route and decoded path parameters, as API Gateway does", () => {
    assert.deepEqual(matchControlRoute("GET", "/releases"), { name: "list", pathParameters: {} });
    assert.deepEqual(matchControlRoute("POST", "/releases/5.16/cancel"), {
      name: "cancel",
      pathParameters: { releaseId: "5.16" },
    });
    assert.deepEqual(matchControlRoute("POST", "/releases/hot%5Ffix/approvals/svc%2Db"), {
      name: "approval",
      pathParameters: { releaseId: "hot_fix", pipeline: "svc-b" },
    });
  });

  it("match no route for another method, an unknown path or an empty path parameter", () => {
    assert.equal(matchControlRoute("GET", "/releases/5.16/cancel"), undefined);
    assert.equal(matchControlRoute("POST", "/releases/5.16/pause"), undefined);
    assert.equal(matchControlRoute("POST", "/releases//cancel"), undefined);
    assert.equal(matchControlRoute("POST", "/releases/5.16/approvals"), undefined);
  });

  it("name each route's path parameters from its resource path", () => {
    assert.deepEqual(pathParameterNames(CONTROL_ROUTES.approval.resource), ["releaseId", "pipeline"]);
    assert.deepEqual(pathParameterNames(CONTROL_ROUTES.list.resource), []);
  });
});
