/**
 * The control function called as API Gateway's proxy integration calls it (a POST to one of
 * contract/control-routes.ts's routes, signed by `caller`), for the tests that drive cancels,
 * retries and gate decisions on a local machine.
 */
import type { ControlDeps } from "../handlers/release-control";
import { releaseControlApi } from "../handlers/release-control";
import type { LocalReleaseMachine } from "../local/release-machine";

export type ControlAnswer = { status: number; json: Record<string, unknown> };

/** The control function's own deps on this machine: its clients, under its role. */
export function controlDepsOf(m: LocalReleaseMachine): ControlDeps {
  const own = m.functionDeps("releaseControl");
  return { ...own.execution, ...own.control };
}

/** POSTs `body` (none when undefined) to `resource` with these path parameters, as `caller`. */
export async function callControl(
  deps: ControlDeps,
  resource: string,
  path: Record<string, string>,
  body: object | undefined,
  caller: string,
): Promise<ControlAnswer> {
  const answer = await releaseControlApi(deps, {
    resource,
    httpMethod: "POST",
    pathParameters: path,
    body: body === undefined ? null : JSON.stringify(body),
    requestContext: { identity: { userArn: caller } },
  });
  return { status: answer.statusCode, json: JSON.parse(answer.body) as Record<string, unknown> };
}

/**
 * The routes the tests call, on the deps `depsOf` picks for a machine, as `defaultCaller` unless
 * one is given: `control` (any route), `cancel`, `retry` and `decide` (a gate's approve or reject).
 */
export function controlCalls(depsOf: (m: LocalReleaseMachine) => ControlDeps, defaultCaller: string) {
  const control = (
    m: LocalReleaseMachine,
    resource: string,
    path: Record<string, string>,
    body: object | undefined,
    by: string,
  ): Promise<ControlAnswer> => callControl(depsOf(m), resource, path, body, by);
  return {
    control,
    cancel: (m: LocalReleaseMachine, releaseId: string, by = defaultCaller, reason?: string) =>
      control(m, "/releases/{releaseId}/cancel", { releaseId }, reason ? { reason } : {}, by),
    retry: (m: LocalReleaseMachine, releaseId: string, by = defaultCaller) =>
      control(m, "/releases/{releaseId}/retry", { releaseId }, {}, by),
    decide: (
      m: LocalReleaseMachine,
      releaseId: string,
      pipeline: string,
      decision: "approve" | "reject",
      by = defaultCaller,
      comment?: string,
    ) =>
      control(
        m,
        "/releases/{releaseId}/approvals/{pipeline}",
        { releaseId, pipeline },
        { decision, ...(comment ? { comment } : {}) },
        by,
      ),
  };
}
