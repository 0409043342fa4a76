/**
 * What `npm start` tells its terminal, one line per release event: a submission (over the API or
 * by an upload), its workflow starting, each pipeline ending, the release succeeding, failing or
 * being rejected. Gathered from outside the release machine: the local server sees submissions
 * and starts executions itself, pipeline ends come through the event router, and a release's end
 * is its execution's end read together with the release's record.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { ReleaseErrors } from "../contract/errors";
import {
  ExecutionsTable,
  PIPELINE_EVENT_DETAIL_TYPE,
  RELEASE_EVENT_DETAIL_TYPE,
  RELEASE_EVENT_SOURCE,
} from "../contract/tables";
import { readableCause } from "../handlers/release-status";
import type { LocalExecution } from "./engine";
import type { EventEnvelope } from "./event-router";
import type { LocalReleaseMachine } from "./release-machine";

export type ReleaseEvent =
  | { type: "submitted"; at: Date; releaseId?: string; source: string }
  | { type: "started"; at: Date; releaseId?: string; execution: string }
  | { type: "pipeline-ended"; at: Date; releaseId?: string; pipeline: string; state: string }
  | { type: "rejected"; at: Date; releaseId?: string; source: string; reason: string }
  | {
      /** A person's or the scheduler's control of a running release: a gate, a decision, a cancel. */
      type: "control";
      at: Date;
      releaseId: string;
      status: string;
      causedBy: string;
      pipeline?: string;
      decision?: string;
      detail?: string;
    }
  | {
      type: "ended";
      at: Date;
      releaseId?: string;
      status: "SUCCEEDED" | "FAILED" | "REJECTED" | "CANCELLED";
      error?: string;
      cause?: string;
    };

/** Workflow errors that mean the submission itself was refused, not that the release failed. */
const REJECTIONS: string[] = [
  ReleaseErrors.InvalidManifest,
  ReleaseErrors.ManifestNotFound,
  ReleaseErrors.DuplicateRelease,
];
const ENDED_STATES = ["SUCCEEDED", "FAILED", "STOPPED", "CANCELED", "SUPERSEDED"];
const MAX_CAUSE = 300;

const time = (at: Date) => `${at.toISOString().slice(11, 19)}Z`;
const release = (releaseId: string | undefined) => (releaseId ? `release ${releaseId}` : "a release");
const short = (text: string) => {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > MAX_CAUSE ? `${line.slice(0, MAX_CAUSE - 1)}…` : line;
};

/** One line, e.g. `10:00:04Z  pipeline svc-a SUCCEEDED  (release 5.15)`. */
export function formatReleaseEvent(event: ReleaseEvent): string {
  const at = time(event.at);
  switch (event.type) {
    case "submitted":
      return `${at}  submitted  ${release(event.releaseId)} from ${event.source}`;
    case "started":
      return `${at}  started    ${release(event.releaseId)}  (execution ${event.execution})`;
    case "pipeline-ended":
      return `${at}  pipeline   ${event.pipeline} ${event.state}${event.releaseId ? `  (release ${event.releaseId})` : ""}`;
    case "rejected":
      return `${at}  rejected   ${release(event.releaseId)} from ${event.source}: ${short(event.reason)}`;
    case "control": {
      const why = event.detail ? `: ${short(event.detail)}` : "";
      const where = `  (release ${event.releaseId})`;
      if (event.status === "AWAITING_APPROVAL")
        return `${at}  gate       ${event.pipeline ?? ""} awaits approval${where}`;
      if (event.decision)
        return `${at}  ${{ approve: "approved ", expired: "expired  " }[event.decision] ?? "rejected "}  ${event.pipeline ?? ""} by ${event.causedBy}${why}${where}`;
      if (event.status === "CANCELLING")
        return `${at}  cancel     ${release(event.releaseId)} by ${event.causedBy}${why}`;
      return `${at}  retried    ${release(event.releaseId)} by ${event.causedBy}${why}`;
    }
    case "ended": {
      const word = {
        SUCCEEDED: "succeeded",
        FAILED: "failed   ",
        REJECTED: "rejected ",
        CANCELLED: "cancelled",
      }[event.status];
      const why = [event.error, event.cause && short(event.cause)].filter(Boolean).join(": ");
      return `${at}  ${word}  ${release(event.releaseId)}${why ? `: ${why}` : ""}`;
    }
  }
}

/**
 * Reports one execution: started now, and how it ended once it has. A release found REJECTED, or
 * an execution failing with a rejection's error, is reported as rejected. Nothing is read or
 * reported once `open()` is false: the machine is shutting down and its executions are cut off.
 * Settles once it has reported the end, or found `open()` false: a shutdown waits for it.
 */
export function followExecution(
  machine: LocalReleaseMachine,
  execution: LocalExecution,
  releaseId: string | undefined,
  emit: (event: ReleaseEvent) => void,
  open: () => boolean,
): Promise<void> {
  emit({ type: "started", at: execution.startDate, releaseId, execution: execution.name });
  return execution.done.then(async (done) => {
    // Its pipelines' last events may still be in delivery: their lines come first.
    await machine.router.idle();
    if (!open()) return;
    const record = releaseId ? await machine.readRelease(releaseId).catch(() => undefined) : undefined;
    const rejected = record?.status === "REJECTED" || REJECTIONS.includes(done.error ?? "");
    const status = rejected
      ? "REJECTED"
      : record?.status === "CANCELLED"
        ? "CANCELLED"
        : done.status === "SUCCEEDED"
          ? "SUCCEEDED"
          : "FAILED";
    const error = done.error ?? record?.error;
    // A Lambda error's cause is JSON ({"errorType","errorMessage","trace"}): people read the message.
    const cause = done.cause !== undefined ? readableCause(done.cause) : record?.cause;
    emit({
      type: "ended",
      at: done.stopDate ?? new Date(),
      releaseId,
      status,
      ...(status !== "SUCCEEDED" && error ? { error } : {}),
      ...(status !== "SUCCEEDED" && cause ? { cause } : {}),
    });
  });
}

/** Adds a router rule reporting every pipeline execution's end, with its release when recorded. */
export function reportPipelineEnds(machine: LocalReleaseMachine, emit: (event: ReleaseEvent) => void): void {
  // Gates, decisions and cancels, from the handlers' own "Release State Change" events.
  machine.router.addRule({
    name: "local-release-control-log",
    pattern: {
      source: [RELEASE_EVENT_SOURCE],
      "detail-type": [RELEASE_EVENT_DETAIL_TYPE],
      detail: { status: ["AWAITING_APPROVAL", "CANCELLING", "RUNNING"] },
    },
    target: (event: EventEnvelope) => {
      const detail = event.detail as Record<string, unknown>;
      const text = (key: string) => (typeof detail[key] === "string" ? (detail[key] as string) : undefined);
      // A release's first RUNNING is already logged as "started"; a retry's and a decision's are not.
      if (text("status") === "RUNNING" && !text("decision") && detail.attempt === 1) return;
      const [pipeline, decision, comment, reason] = ["pipeline", "decision", "comment", "reason"].map(text);
      emit({
        type: "control",
        at: new Date(event.time),
        releaseId: text("releaseId") ?? "",
        status: text("status") ?? "",
        causedBy: text("causedBy") ?? "unknown",
        ...(pipeline ? { pipeline } : {}),
        ...(decision ? { decision } : {}),
        ...((comment ?? reason) ? { detail: comment ?? reason } : {}),
        ...(text("status") === "RUNNING" && !decision ? { detail: `attempt ${String(detail.attempt)}` } : {}),
      });
    },
  });
  machine.router.addRule({
    name: "local-release-log",
    pattern: {
      source: ["aws.codepipeline"],
      "detail-type": [PIPELINE_EVENT_DETAIL_TYPE],
      detail: { state: ENDED_STATES },
    },
    target: async (event: EventEnvelope) => {
      const { pipeline, state } = event.detail as { pipeline: string; state: string };
      const executionId = String(event.detail["execution-id"]);
      // The execution may not be recorded yet (events can come first): then no release is named.
      const item = await machine.deps.ddb
        .send(
          new GetCommand({
            TableName: machine.tables.executions,
            Key: { [ExecutionsTable.hashKey]: executionId },
          }),
        )
        .then((answer) => answer.Item as { releaseId?: string } | undefined)
        .catch(() => undefined);
      emit({ type: "pipeline-ended", at: new Date(event.time), releaseId: item?.releaseId, pipeline, state });
    },
  });
}
