/**
 * The release machine's own EventBridge events from the handlers: "Release State Change" for each
 * change a person or the scheduler causes (started, awaiting approval, approved, cancelling,
 * retried), and "Release Approval Requested" when a gate opens. The workflow publishes the final
 * states itself (stepfunction/release-workflow.ts); both publish the one detail type of
 * contract/release-events.ts, each announced as one kind of the family of
 * contract/notification-events.ts. Every call follows the conditional write that made its change,
 * so a retried invocation, whose write finds the change made, announces nothing again.
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import type { ExecutionDeps } from "./executions";
import {
  APPROVAL_REQUESTED_DETAIL_TYPE,
  RELEASE_EVENT_BUS,
  RELEASE_EVENT_DETAIL_TYPE,
  RELEASE_EVENT_SOURCE,
} from "../contract/tables";
import {
  type ApprovalRequestedDetail,
  announce,
  announceFreezeOverridden,
  announceResumed,
  FREEZE_OVERRIDDEN_DETAIL_TYPE,
  type FreezeOverriddenChange,
  PIPELINE_RESUMED_DETAIL_TYPE,
  type PipelineResumedChange,
  type ReleaseChange,
  type ReleaseStateDetail,
} from "../contract/release-events";

export type { ApprovalRequestedDetail, ReleaseChange, ReleaseStateDetail };
export { FREEZE_OVERRIDDEN_DETAIL_TYPE };

/**
 * Publishes one event. A lost notification must not undo or repeat the decision it reports, so a
 * refused entry is logged, not thrown (the release's item and GET stay the record).
 */
async function publish(deps: ExecutionDeps, detailType: string, detail: object): Promise<void> {
  try {
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
    if (result.FailedEntryCount) console.error(`${detailType} not published`, result.Entries, detail);
  } catch (error) {
    console.error(`${detailType} not published`, error, detail);
  }
}

/** Announces a change as the family's event of its kind (contract/notification-events.ts). */
export const publishReleaseEvent = (deps: ExecutionDeps, change: ReleaseChange): Promise<void> =>
  publish(deps, RELEASE_EVENT_DETAIL_TYPE, announce(change));

export const publishApprovalRequested = (
  deps: ExecutionDeps,
  detail: ApprovalRequestedDetail,
): Promise<void> => publish(deps, APPROVAL_REQUESTED_DETAIL_TYPE, detail);

export const publishPipelineResumed = (deps: ExecutionDeps, change: PipelineResumedChange): Promise<void> =>
  publish(deps, PIPELINE_RESUMED_DETAIL_TYPE, announceResumed(change));

// --- Freezes (issue 20, item 5): an audited override of the freezes holding a release, the
// family's `freeze.overridden` under its own detail type (contract/notification-events.ts). ---
export const publishFreezeOverridden = (deps: ExecutionDeps, change: FreezeOverriddenChange): Promise<void> =>
  publish(deps, FREEZE_OVERRIDDEN_DETAIL_TYPE, announceFreezeOverridden(change));
