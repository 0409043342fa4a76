/**
 * Approval gates: a gated pipeline whose dependencies succeeded waits as `AwaitingApproval` until
 * a person decides or its deadline passes (the gate opens in progress.ts, with the starts). Every decision (approve, reject, expire) is one
 * conditional write from `AwaitingApproval`, so one decision wins; approving takes the start claim
 * in that same write. A rejected or expired gate halts the release. docs/architecture.md,
 * "Scheduling", release control.
 */
import { randomUUID } from "node:crypto";
import { GateNotAwaiting, ReleaseErrors } from "../../contract/errors";
import type { ControlDecidedDetail } from "../../contract/event-patterns";
import { MACHINE, type PipelineItem, RELEASE_CHANGES, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { ReleasePipelinesTable } from "../../contract/tables";
import { type ExecutionDeps, nowIso } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { skipUnstarted } from "./failure-policy";
import { settle } from "./outcome";
import { onScheduleIndex, readPipeline } from "./reads";
import { handOff } from "./hand-off";
import { publishReleaseEvent } from "../release-events";

export interface GateDecisionRequest {
  releaseId: string;
  pipeline: string;
  decision: "approve" | "reject";
  comment?: string;
  /** The decider: an IAM ARN on AWS, the local user locally. */
  by: string;
}

/**
 * A person's decision on a gate: of two concurrent decisions exactly one wins (the other gets
 * GateNotAwaiting), and a gate a cancel or its deadline already closed cannot be decided. Approval
 * is then an ordinary start, run after the answer (follow-up.ts), which the reconciler completes
 * if it is lost. Rejection skips the pipeline and fails the release with ApprovalRejected: nothing
 * more starts, running pipelines run to their end.
 */
export async function decideGate(deps: ExecutionDeps, request: GateDecisionRequest): Promise<PipelineItem> {
  const { releaseId, pipeline, decision, by } = request;
  const now = nowIso(deps);
  const decided = { decision, decidedBy: by, decidedAt: now, comment: request.comment };
  const result =
    decision === "approve"
      ? await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.approve, {
          fields: { claimedBy: randomUUID(), startingSince: now, ...decided },
        })
      : // The deadline stays (the gate stays on the `gates` index) until the release is halted
        // and the pipeline settled: if this invocation dies first, the reconciler finishes it.
        await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.rejectGate, {
          fields: { endedAt: now, cause: rejectionCause(request), ...decided },
        });
  if (!result.changed) return repeatedDecision(deps, request);
  // The start, or the halt, after the answer: handed off (hand-off.ts) with the decision's
  // announcement in one PutEvents, so the answer waits for nothing but the decision's write and
  // that call. If the hand-off is lost, the reconciler takes the approved start over once its
  // claim expires, and finishes the rejected gate (still on `gates`).
  await handOff(deps, handOffOf(result.item), {
    releaseId,
    status: "RUNNING",
    pipeline,
    decision,
    causedBy: by,
    ...(request.comment ? { comment: request.comment } : {}),
  });
  return result.item;
}

function handOffOf(gate: PipelineItem): ControlDecidedDetail {
  const action = gate.decision === "approve" ? "approve" : "reject";
  const claim = action === "approve" && gate.claimedBy ? { claim: gate.claimedBy } : {};
  return { releaseId: gate.releaseId, action, pipeline: gate.pipeline, ...claim };
}

/**
 * A decision that found the gate decided: the same person's same decision, not yet carried out
 * (its call died after the write, before the hand-off), is handed off again and answered as the
 * first was. An approval counts as not carried out while the approval's own claim stands
 * (`startingSince` is its decision time: nobody took it over); a rejection while the gate is still
 * on the `gates` index. Anything else is GateNotAwaiting.
 */
async function repeatedDecision(deps: ExecutionDeps, request: GateDecisionRequest): Promise<PipelineItem> {
  const { releaseId, pipeline } = request;
  const current = await readPipeline(deps, releaseId, pipeline);
  const same = current?.decision === request.decision && current.decidedBy === request.by;
  const unfinished =
    current?.status === "Starting"
      ? current.startingSince === current.decidedAt
      : current?.status === "Skipped" && current.approvalDeadlineAt !== undefined;
  if (current && same && unfinished) {
    await handOff(deps, handOffOf(current));
    return current;
  }
  const state = current?.decision
    ? `was already decided (${current.decision} by ${current.decidedBy ?? "unknown"})`
    : `is ${current?.status ?? "not part of the release"}`;
  throw new GateNotAwaiting(`the approval of ${pipeline} in release ${releaseId} ${state}`);
}

/**
 * What a rejected or expired gate means for its release: the release halts (ApprovalRejected or
 * ApprovalExpired), the pipeline settles, and only then does the gate leave the `gates` index.
 * Idempotent, so the reconciler can repeat it for a gate whose closing invocation died.
 */
export async function finishClosedGate(deps: ExecutionDeps, gate: PipelineItem): Promise<void> {
  const error = gate.decision === "reject" ? ReleaseErrors.ApprovalRejected : ReleaseErrors.ApprovalExpired;
  await haltRelease(deps, gate.releaseId, error, gate.cause ?? error, gate.decidedBy ?? MACHINE);
  await settle(deps, gate.releaseId, gate.pipeline);
  const closed = await changePipeline(deps, gate.releaseId, gate.pipeline, PIPELINE_CHANGES.closeGate, {
    fields: {},
  });
  if (!closed.changed) throw new Error(`release ${gate.releaseId} has no pipeline ${gate.pipeline}`);
}

function rejectionCause(request: GateDecisionRequest): string {
  const why = request.comment ? `: ${request.comment}` : "";
  return `The approval of ${request.pipeline} was rejected by ${request.by}${why}`;
}

/**
 * A gate's rejection or expiry: the release's first failure (if it has none yet) with that error,
 * `halted` so nothing more starts whatever the failure policy, and every unstarted pipeline skipped.
 */
async function haltRelease(
  deps: ExecutionDeps,
  releaseId: string,
  error: "ApprovalRejected" | "ApprovalExpired",
  cause: string,
  by: string,
): Promise<void> {
  const halted = await changeRelease(deps, releaseId, RELEASE_CHANGES.halt, {
    fields: { firstFailure: cause, firstFailureError: error, firstFailureBy: by, halted: cause },
  });
  if (!halted.changed) throw new Error(`release ${releaseId} does not exist: it cannot halt`);
  await skipUnstarted(deps, releaseId);
}

/**
 * The reconciler's part for gates: a gate past its deadline (found on the sparse `gates` index)
 * closes as expired, in one conditional write from `AwaitingApproval` with the deadline it read, so
 * a decision arriving at the same moment either wins or finds the gate closed; the release fails
 * with ApprovalExpired. Returns the number of gates expired.
 */
export async function expireGates(deps: ExecutionDeps): Promise<number> {
  let expired = 0;
  const now = nowIso(deps);
  const gates = onScheduleIndex<PipelineItem & { approvalDeadlineAt: string }>(
    deps,
    ReleasePipelinesTable.gatesIndex.name,
  );
  for await (const gate of gates) {
    // Closed (rejected or expired) but not finished: its closing invocation died.
    if (gate.status === "Skipped" && (gate.decision === "reject" || gate.decision === "expired")) {
      await finishClosedGate(deps, gate);
      continue;
    }
    if (gate.status !== "AwaitingApproval" || gate.approvalDeadlineAt > now) continue;
    const cause = `The approval of ${gate.pipeline} expired at ${gate.approvalDeadlineAt} without a decision`;
    const closed = await changePipeline(deps, gate.releaseId, gate.pipeline, PIPELINE_CHANGES.expireGate, {
      fields: { endedAt: now, cause, decision: "expired", decidedBy: MACHINE, decidedAt: now },
      where: { deadline: gate.approvalDeadlineAt },
    });
    if (!closed.changed) continue; // decided or skipped meanwhile
    const { releaseId, pipeline } = gate;
    await publishReleaseEvent(deps, {
      releaseId,
      status: "RUNNING",
      pipeline,
      decision: "expired",
      causedBy: MACHINE,
    });
    await finishClosedGate(deps, closed.item);
    expired += 1;
  }
  return expired;
}
