/**
 * A control decision's hand-off (handlers/release/follow-up.ts does the work): one
 * "Release Control Decided" event, accepted by EventBridge before the control call answers.
 */
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { CONTROL_DECIDED_DETAIL_TYPE, type ControlDecidedDetail } from "../../contract/event-patterns";
import type { ReleaseStateDetail } from "../../contract/release-events";
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
  announcement?: ReleaseStateDetail,
): Promise<void> {
  const entry = (detailType: string, body: object) => ({
    Source: RELEASE_EVENT_SOURCE,
    DetailType: detailType,
    EventBusName: RELEASE_EVENT_BUS,
    Detail: JSON.stringify(body),
  });
  const result = await deps.events.send(
    new PutEventsCommand({
      Entries: [
        entry(CONTROL_DECIDED_DETAIL_TYPE, detail),
        ...(announcement ? [entry(RELEASE_EVENT_DETAIL_TYPE, announcement)] : []),
      ],
    }),
  );
  const [handedOff, announced] = result.Entries ?? [];
  if (announcement && announced?.ErrorCode)
    console.error(`${RELEASE_EVENT_DETAIL_TYPE} not published`, announced, announcement);
  if (result.FailedEntryCount && (handedOff === undefined || handedOff.ErrorCode)) {
    throw new Error(
      `the ${detail.action} of release ${detail.releaseId} was recorded but its work not handed off: ${handedOff?.ErrorCode ?? "unknown"} ${handedOff?.ErrorMessage ?? ""}`,
    );
  }
}
