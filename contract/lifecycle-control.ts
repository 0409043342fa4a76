/**
 * The writes that make registration and retry resumable from their recorded progress
 * (docs/architecture.md, "Crash consistency"): a release records that its schedule is still being
 * written until every item exists, and a retry's decision is recorded before its execution starts,
 * so a repeated request completes the same attempt. Part of RELEASE_CHANGES (contract/lifecycle.ts),
 * which checks them against its types; kept apart only for that file's size.
 */
export const CRASH_CONSISTENCY_CHANGES = {
  scheduleWritten: {
    why: "Every item of the schedule exists: the release's pipeline count now matches its schedule, and it may be retried",
    exists: true,
    remove: ["schedulePending", "replaces"],
    when: ["#executionArn = :executionArn"],
    where: ["executionArn"],
  },
  requestRetry: {
    why: "A retry's decision, recorded before its execution starts: a repeated request starts the same attempt with the same input",
    from: ["FAILED", "CANCELLED"],
    fields: { retryRequested: "set", retryRequestedBy: "set", retryRequestedAt: "set" },
    when: [
      "#attempt = :previousAttempt",
      "attribute_not_exists(#schedulePending)",
      "(attribute_not_exists(#retryRequested) OR #retryRequested < :retryRequested)",
    ],
    where: ["previousAttempt"],
  },
} as const;

/** Part of PIPELINE_CHANGES, apart for the same reason. */
export const SETTLE_ENDED = {
  settleEnded: {
    why: "Its execution's end settles it: marked once, only while it names that execution (a late end of an earlier attempt's marks nothing)",
    // Ended statuses only (SETTLED_STATUSES): a resumed execution's item runs again, unmarked.
    from: ["Succeeded", "Failed", "Stopped", "Cancelled", "Superseded", "Skipped"],
    fields: { settled: "set" },
    when: ["attribute_not_exists(#settled)", "#pipelineExecutionId = :pipelineExecutionId"],
    where: ["pipelineExecutionId"],
    exists: true,
  },
} as const;

/** Part of PIPELINE_CHANGES, apart for the same reason: the marks that move no status. */
export const SCHEDULE_MARKS = {
  closeGate: {
    why: "A closed gate's release was halted and the pipeline settled: it leaves the `gates` index",
    remove: ["approvalDeadlineAt"],
    exists: true,
  },
  dependencySucceeded: {
    why: "One of its dependencies succeeded (a set: recording it twice changes nothing)",
    fields: { depsSucceeded: "add" },
    exists: true,
  },
} as const;
