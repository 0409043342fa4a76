/**
 * `POST /releases/{releaseId}/override-freeze {reason}` (issue 20, item 5): its own route, so IAM
 * grants it apart from the freeze routes (infra/freezes.ts). It lets that release's frozen
 * pipelines start: the freezes holding them now are recorded on the release as overridden
 * (`freezeOverrides`, appended: who, when, why, which freezes and pipelines), a "Release Freeze
 * Overridden" event says so, and the scheduler's check (handlers/release/freezes.ts) no longer
 * counts those freezes for this release; the reconciler's next pass starts the pipelines
 * (handlers/release/thaw.ts). A freeze added later still holds.
 *
 * 400 without a reason; 404 an unknown release; 409 a release not running or with nothing frozen.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { MAX_REASON_LENGTH } from "../contract/freeze";
import type { ReleaseItem } from "../contract/lifecycle";
import type { FreezeOverride } from "../contract/lifecycle-freeze";
import { RELEASE_ID_PATTERN } from "../contract/manifest-schema";
import { ReleasesTable } from "../contract/tables";
import type { ExecutionDeps } from "./executions";
import { readItem } from "./reads";
import { pipelinesOfRelease } from "./release/reads";
import { publishFreezeOverridden } from "./release-events";
import { type ProxyResponse, json } from "./release-status";

const refused = (statusCode: number, error: string, message: string, extra: object = {}) =>
  json(statusCode, { error, message, ...extra });

function reasonOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    const reason =
      typeof parsed === "object" && parsed !== null ? (parsed as { reason?: unknown }).reason : undefined;
    return typeof reason === "string" && reason.trim() !== "" && reason.length <= MAX_REASON_LENGTH
      ? reason
      : undefined;
  } catch {
    return undefined;
  }
}

/** Overrides the freezes holding release `releaseId`'s pipelines, as `caller`. */
export async function overrideFreeze(
  deps: ExecutionDeps,
  releaseId: string,
  body: string,
  caller: string,
  now: Date,
): Promise<ProxyResponse> {
  const reason = reasonOf(body);
  if (reason === undefined) {
    const message = `reason is required: 1-${MAX_REASON_LENGTH} characters saying why the freeze is overridden`;
    return refused(400, "InvalidRequest", message, {
      problems: [{ path: "/reason", rule: "required", message }],
    });
  }
  if (!new RegExp(RELEASE_ID_PATTERN).test(releaseId)) {
    return refused(400, "InvalidRequest", `${JSON.stringify(releaseId)} is not a releaseId`);
  }
  const release = await readItem<ReleaseItem>(deps.ddb, deps.tables.releases, {
    [ReleasesTable.hashKey]: releaseId,
  });
  if (!release) return refused(404, "ReleaseNotFound", `no release has releaseId ${releaseId}`);
  const frozen = (await pipelinesOfRelease(deps, releaseId)).filter(
    (item) => item.status === "Pending" && item.frozenBy !== undefined,
  );
  if (release.status !== "RUNNING" || frozen.length === 0) {
    return refused(
      409,
      "NothingFrozen",
      `release ${releaseId} has no frozen pipeline (it is ${release.status})`,
    );
  }
  const override: FreezeOverride = {
    by: caller,
    at: now.toISOString(),
    reason,
    freezes: [...new Set(frozen.flatMap((item) => item.frozenBy ?? []))].sort(),
    pipelines: frozen.map((item) => item.pipeline),
  };
  await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releases,
      Key: { [ReleasesTable.hashKey]: releaseId },
      UpdateExpression: "SET #overrides = list_append(if_not_exists(#overrides, :none), :override)",
      ConditionExpression: "attribute_exists(#releaseId)",
      ExpressionAttributeNames: { "#overrides": "freezeOverrides", "#releaseId": ReleasesTable.hashKey },
      ExpressionAttributeValues: { ":none": [], ":override": [override] },
    }),
  );
  await publishFreezeOverridden(deps, { releaseId, overriddenBy: caller, ...override });
  return json(202, { releaseId, freezeOverride: override });
}
