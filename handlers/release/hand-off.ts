/**
 * A control decision's hand-off (handlers/release/follow-up.ts does the work): one
 * "Release Control Decided" event, accepted by EventBridge before the control call answers.
 */
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import {
  CONTROL_DECIDED_DETAIL_TYPE,
  type ControlDecidedDetail,
  STARTS_PENDING_DETAIL_TYPE,
  type StartsPendingDetail,
} from "../../contract/event-patterns";
import { RELEASE_EVENT_BUS, RELEASE_EVENT_SOURCE } from "../../contract/tables";
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
 * Hands a recorded decision's work off. Unlike the announcements (handlers/release-events.ts),
 * a refused entry throws: the decision stands, the caller is not told it was accepted, and
 * repeating the request repeats the hand-off.
 */
export async function handOff(deps: ExecutionDeps, detail: ControlDecidedDetail): Promise<void> {
  await putHandOff(
    deps,
    CONTROL_DECIDED_DETAIL_TYPE,
    detail,
    `the ${detail.action} of release ${detail.releaseId}`,
  );
}

/**
 * Hands the rest of a pipeline's dependants on (handlers/release/dependants.ts). A refused entry
 * throws: the ended execution stays on the `waiting` index, so a retry or the reconciler repeats it.
 */
export async function handOffStarts(deps: ExecutionDeps, detail: StartsPendingDetail): Promise<void> {
  await putHandOff(
    deps,
    STARTS_PENDING_DETAIL_TYPE,
    detail,
    `the dependants of ${detail.pipeline} (release ${detail.releaseId}) from ${detail.from}`,
  );
}

async function putHandOff(
  deps: ExecutionDeps,
  detailType: string,
  detail: object,
  what: string,
): Promise<void> {
  const result = await deps.events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: RELEASE_EVENT_SOURCE,
          DetailType: detailType,
          EventBusName: RELEASE_EVENT_BUS,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  if (result.FailedEntryCount) {
    const entry = result.Entries?.[0];
    throw new Error(
      `${what} was recorded but its work not handed off: ${entry?.ErrorCode ?? "unknown"} ${entry?.ErrorMessage ?? ""}`,
    );
  }
}
