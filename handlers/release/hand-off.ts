/**
 * Hand-offs to the pipeline-event function: a control decision's work (handlers/release/follow-up.ts
 * does it), one "Release Control Decided" event, and the rest of a pipeline's dependants
 * (handlers/release/dependants.ts), one "Release Starts Pending" event; each accepted by EventBridge
 * before the caller goes on.
 */
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import {
  CONTROL_DECIDED_DETAIL_TYPE,
  type ControlDecidedDetail,
  STARTS_PENDING_DETAIL_TYPE,
  type StartsPendingDetail,
} from "../../contract/event-patterns";
import { announce, type ReleaseChange } from "../../contract/release-events";
import { RELEASE_EVENT_BUS, RELEASE_EVENT_DETAIL_TYPE, RELEASE_EVENT_SOURCE } from "../../contract/tables";
import type { ExecutionDeps } from "../executions";

/** The event as EventBridge delivers it to the pipeline-event function. */
export interface ControlDecidedEvent {
  "detail-type": typeof CONTROL_DECIDED_DETAIL_TYPE;
  detail: ControlDecidedDetail;
}

export function isControlDecided(event: unknown): event is ControlDecidedEvent {
  if (typeof event !== "object" || event === null) return false;
  const detail: unknown = Reflect.get(event, "detail");
  return (
    Reflect.get(event, "detail-type") === CONTROL_DECIDED_DETAIL_TYPE &&
    typeof detail === "object" &&
    detail !== null &&
    typeof Reflect.get(detail, "releaseId") === "string" &&
    ["cancel", "approve", "reject"].includes(String(Reflect.get(detail, "action")))
  );
}

/**
 * Hands a recorded decision's work off, with the decision's announcement ("Release State Change")
 * when given: one PutEvents of both entries, so the answer waits for one call, not two. Unlike
 * the announcement (logged when refused, as handlers/release-events.ts does), a refused hand-off
 * throws: the decision stands, the caller is not told it was accepted, and repeating the request
 * repeats the hand-off. PutEvents answers each entry at its request's index:
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
export async function handOff(
  deps: ExecutionDeps,
  detail: ControlDecidedDetail,
  announcement?: ReleaseChange,
): Promise<void> {
  await putHandOff(deps, {
    detailType: CONTROL_DECIDED_DETAIL_TYPE,
    detail,
    what: `the ${detail.action} of release ${detail.releaseId}`,
    ...(announcement ? { announcement } : {}),
  });
}

/**
 * Hands the rest of a pipeline's dependants on (handlers/release/dependants.ts). A refused entry
 * throws; a lost hand-off leaves dependants without the success's mark on a RUNNING release's
 * schedule, which a retry or the reconciler's pass finds and repeats (./reconcile-schedule.ts).
 */
export async function handOffStarts(deps: ExecutionDeps, detail: StartsPendingDetail): Promise<void> {
  await putHandOff(deps, {
    detailType: STARTS_PENDING_DETAIL_TYPE,
    detail,
    what: `the dependants of ${detail.pipeline} (release ${detail.releaseId}) from ${detail.from}`,
  });
}

interface HandOffEntry {
  detailType: string;
  detail: object;
  /** What was handed off, in words, for the error when it was refused. */
  what: string;
  announcement?: ReleaseChange;
}

async function putHandOff(deps: ExecutionDeps, request: HandOffEntry): Promise<void> {
  const { detailType, detail, what, announcement } = request;
  const entry = (type: string, body: object) => ({
    Source: RELEASE_EVENT_SOURCE,
    DetailType: type,
    EventBusName: RELEASE_EVENT_BUS,
    Detail: JSON.stringify(body),
  });
  const result = await deps.events.send(
    new PutEventsCommand({
      Entries: [
        entry(detailType, detail),
        ...(announcement ? [entry(RELEASE_EVENT_DETAIL_TYPE, announce(announcement))] : []),
      ],
    }),
  );
  const [handedOff, announced] = result.Entries ?? [];
  if (announcement && announced?.ErrorCode)
    console.error(`${RELEASE_EVENT_DETAIL_TYPE} not published`, announced, announcement);
  if (result.FailedEntryCount && (handedOff === undefined || handedOff.ErrorCode)) {
    throw new Error(
      `${what} was recorded but its work not handed off: ${handedOff?.ErrorCode ?? "unknown"} ${handedOff?.ErrorMessage ?? ""}`,
    );
  }
}
