/**
 * The release machine's own EventBridge events from the handlers: "Release State Change" for each
 * change a person or the scheduler causes (started, awaiting approval, approved, cancelling,
 * retried), and "Release Approval Requested" when a gate opens. The workflow publishes the final
 * states itself (stepfunction/release-workflow.ts); both publish the one detail type of
 * contract/release-events.ts.
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
  PIPELINE_RESUMED_DETAIL_TYPE,
  type PipelineResumedDetail,
  type ReleaseStateDetail,
} from "../contract/release-events";

export type { ApprovalRequestedDetail, ReleaseStateDetail };

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

export const publishReleaseEvent = (deps: ExecutionDeps, detail: ReleaseStateDetail): Promise<void> =>
  publish(deps, RELEASE_EVENT_DETAIL_TYPE, detail);

export const publishApprovalRequested = (
  deps: ExecutionDeps,
  detail: ApprovalRequestedDetail,
): Promise<void> => publish(deps, APPROVAL_REQUESTED_DETAIL_TYPE, detail);

export const publishPipelineResumed = (deps: ExecutionDeps, detail: PipelineResumedDetail): Promise<void> =>
  publish(deps, PIPELINE_RESUMED_DETAIL_TYPE, detail);

// --- Freezes (issue 20, item 5): an audited override of the freezes holding a release. ---
export const FREEZE_OVERRIDDEN_DETAIL_TYPE = "Release Freeze Overridden";
export const publishFreezeOverridden = (
  deps: ExecutionDeps,
  detail: {
    releaseId: string;
    overriddenBy: string;
    at: string;
    reason: string;
    freezes: string[];
    pipelines: string[];
  },
): Promise<void> => publish(deps, FREEZE_OVERRIDDEN_DETAIL_TYPE, detail);
