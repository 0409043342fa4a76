/**
 * The lifecycle of a release and of each pipeline in it, declared once as data: the items as the
 * Releases and ReleasePipelines tables hold them, their statuses, and every write to them (which
 * statuses it leaves, which it enters, what it sets and removes, on which condition). The
 * handlers (handlers/lifecycle-store.ts) and the workflow's Mark states (stepfunction/) execute
 * them through `changeExpression`; no other code writes a status (docs/architecture.md, "Lifecycle").
 */
import type { ManifestProblem } from "./errors";
import type { ApprovalGate, PlannedPipeline, StartVariables } from "./manifest";
import { ATTEMPT_END_FIELDS, type ChangeDeclaration, REGISTRATION_FIELDS } from "./lifecycle-declaration";
import { BACKSTOP_CHANGES } from "./lifecycle-backstop";
import { CRASH_CONSISTENCY_CHANGES, SCHEDULE_MARKS, SETTLE_ENDED } from "./lifecycle-control";
import {
  FREEZE_FIELDS,
  FREEZE_PIPELINE_CHANGES,
  type FreezeFields,
  type FreezeOverrideFields,
} from "./lifecycle-freeze";
import { EXECUTION_END_CHANGES } from "./lifecycle-ends";
import { SUCCESS_CHANGES } from "./lifecycle-success";
import { RESUME_PIPELINE_CHANGES, RESUME_RELEASE_CHANGES } from "./lifecycle-resume";
import * as VIEW from "./lifecycle-view";
import { UPLOADER_CHANGES, type UploaderFields } from "./lifecycle-identity";
import { REREGISTER_CHANGES, type RejectionRecord, type ReregisterFields } from "./lifecycle-reregister";

export type { RejectionRecord } from "./lifecycle-reregister";

/** `stopRemaining` stops the release at its first failure; `letFinish` skips only its dependants. */
export type FailurePolicy = "stopRemaining" | "letFinish";

export type ReleaseStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "REJECTED" | "CANCELLED";

/** How a release ends: what its outcome, the workflow's Mark states and its last event say. */
export type ReleaseEnd = "SUCCEEDED" | "FAILED" | "CANCELLED";

/** The statuses `GET /releases?status=` accepts. */
export const RELEASE_STATUSES: readonly ReleaseStatus[] = [
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
  "REJECTED",
  "CANCELLED",
];

/** CodePipeline API execution statuses (GetPipelineExecution). */
export type PipelineExecutionStatus =
  "Cancelled" | "InProgress" | "Stopped" | "Stopping" | "Succeeded" | "Superseded" | "Failed";

/** The end statuses of a pipeline's execution, which its schedule item takes over. */
export type PipelineEnd = "Succeeded" | "Failed" | "Stopped" | "Cancelled" | "Superseded";

/**
 * A pipeline's place in its release's schedule. `Pending`: waiting for its dependencies;
 * `AwaitingApproval`: its dependencies succeeded and its gate waits for a decision; `Starting`:
 * claimed by exactly one starter; `Started`: its execution is recorded; an end status once it
 * ended; `Skipped`: it never started.
 */
export type ScheduleStatus =
  "Pending" | "AwaitingApproval" | "Starting" | "Started" | "Skipped" | PipelineEnd;

export const SCHEDULE_STATUSES: readonly ScheduleStatus[] = [
  "Pending",
  "AwaitingApproval",
  "Starting",
  "Started",
  "Succeeded",
  "Failed",
  "Stopped",
  "Cancelled",
  "Superseded",
  "Skipped",
];

export const PIPELINE_ENDS: readonly PipelineEnd[] = [
  "Succeeded",
  "Failed",
  "Stopped",
  "Cancelled",
  "Superseded",
];

/** Statuses after which a pipeline's place in the release never changes again (until a retry). */
export const SETTLED_STATUSES: readonly ScheduleStatus[] = [...PIPELINE_ENDS, "Skipped"];

/** Release statuses only a retry or a corrected resubmission leaves. */
export const RELEASE_TERMINAL_STATUSES = RELEASE_STATUSES.filter((s) => s !== "RUNNING");

/** Who a release's record and events name when no person caused the change. */
export const MACHINE = "release-machine";

/** What the release's wait returns and the workflow records: one spelling, lowercase. */
export interface ReleaseOutcome {
  status: ReleaseEnd;
  error?: string;
  cause?: string;
  /** Who caused this end: the canceller, the decider of a gate, or `release-machine`. */
  causedBy: string;
}

/** Why a release failed, as the workflow carries it (`$.failure`): the outcome's fields. */
export type ReleaseFailure = Required<Pick<ReleaseOutcome, "error" | "cause" | "causedBy">>;

type ReleaseExtras = VIEW.AttemptFields & UploaderFields & ReregisterFields & FreezeOverrideFields;
/** The Releases item. */
export interface ReleaseItem extends ReleaseExtras {
  releaseId: string;
  status: ReleaseStatus;
  executionArn: string;
  startedAt?: string;
  source?: string;
  /** 1, then one more per retry. */
  attempt: number;
  failurePolicy: FailurePolicy;
  pipelineCount: number;
  /** While its schedule is still being written (the registering execution's ARN): not yet retryable. */
  schedulePending?: string;
  /** The attempt a retry asked for, recorded before its execution starts, and who asked when. */
  retryRequested?: number;
  retryRequestedBy?: string;
  retryRequestedAt?: string;
  /** How long one pipeline may run before the reconciler stops it. */
  pipelineTimeoutSeconds: number;
  /** The `newest` index's partition: one of its shards (contract/tables.ts, listedShard). */
  listed?: string;
  /** Settles counted: never fewer than the pipelines marked settled (completion is confirmed on those). */
  settledCount?: number;
  /** The first failure's cause; set once, with its error name and who caused it. */
  firstFailure?: string;
  firstFailureError?: string;
  firstFailureBy?: string;
  /** The pipeline whose failure is the first one (absent for a gate's or an older release's). */
  firstFailurePipeline?: string;
  /** Pipelines whose execution was resumed outside the release while it ran, and after its outcome. */
  resumedPipelines?: Set<string>;
  resumedAfterEnd?: Set<string>;
  lastResumedAt?: string;
  /** Set when the release starts nothing more, whatever its failure policy (a gate was rejected or expired). */
  halted?: string;
  /** Who submitted the release: an IAM ARN on AWS, the local user locally. */
  submittedBy?: string;
  /** Who cancelled it and why; set once, only while the release runs and has no outcome. */
  cancelledBy?: string;
  cancelReason?: string;
  cancelledAt?: string;
  /** Decided once, when every pipeline settled (or the cancel settled them): what the workflow records. */
  outcome?: ReleaseOutcome;
  retriedBy?: string;
  retriedAt?: string;
  taskToken?: string;
  waitingSince?: string;
  endedAt?: string;
  errorName?: string;
  cause?: string;
  /** For a REJECTED submission: every problem, by field (JSON Pointer) and rule. */
  problems?: ManifestProblem[];
  /** The last rejected submissions of this releaseId (at most 10), oldest first. */
  rejections?: RejectionRecord[];
  /** Every rejected submission of this releaseId so far: the version `rejections` is replaced under. */
  rejectionCount?: number;
  /** On a rejection recorded apart (`rejected:<execution name>`): the releaseId it named. */
  rejectedReleaseId?: string;
}

/** How a gate was decided: by a person, or by its deadline. */
export type GateDecision = "approve" | "reject" | "expired";

/** One pipeline of a release, as the ReleasePipelines table holds it. */
export interface PipelineItem extends VIEW.PipelineFailureFields, VIEW.AttemptFields, FreezeFields {
  releaseId: string;
  pipeline: string;
  /** Position in the manifest, for display. */
  order: number;
  dependsOn: string[];
  dependants: string[];
  depsSucceeded?: Set<string>;
  variables?: StartVariables;
  sourceRevisions?: PlannedPipeline["sourceRevisions"];
  status: ScheduleStatus;
  /** The claim on its start (a fresh id per claim): only the reconciler takes one over. */
  claimedBy?: string;
  /** Set while claimed and not yet recorded: the reconciler takes over a claim stuck past the expiry. */
  startingSince?: string;
  pipelineExecutionId?: string;
  /** The release attempt that started its current execution. */
  attempt?: number;
  /** The last attempt whose retry reset this pipeline (so a retried reset repeats nothing). */
  resetForAttempt?: number;
  startedAt?: string;
  endedAt?: string;
  cause?: string;
  /** Its approval gate, when the manifest has one, and the gate's progress. */
  approval?: ApprovalGate;
  approvalRequestedAt?: string;
  /** Set only while it awaits approval: the sparse `gates` index the reconciler expires gates from. */
  approvalDeadlineAt?: string;
  decision?: GateDecision;
  decidedBy?: string;
  decidedAt?: string;
  comment?: string;
  /** The execution's attempt (RetryStageExecution's resumes count from 2) its status is from. */
  executionAttempt?: number;
  /** When its execution last resumed outside the release. */
  resumedAt?: string;
  /** Marked once by its settle, after the release counted it; a retry's reset removes it. */
  settled?: boolean;
}

const NOT_SUCCEEDED = SCHEDULE_STATUSES.filter((s) => s !== "Succeeded");
const UNSETTLED = SCHEDULE_STATUSES.filter((s) => !SETTLED_STATUSES.includes(s));
const COUNT = { fields: { settledCount: "add" }, exists: true } as const;
const ONCE = { fields: { settled: "set" }, when: ["attribute_not_exists(#settled)"], exists: true } as const;
const DECISION = { decision: "set", decidedBy: "set", decidedAt: "set" } as const;
const RELEASE_END = { endedAt: "set", errorName: "set", cause: "set" } as const;
const FIRST_FAILURE = {
  firstFailure: "ifNotExists",
  firstFailureError: "ifNotExists",
  firstFailureBy: "ifNotExists",
} as const;

/** Every write to a Releases item. */
export const RELEASE_CHANGES = {
  register: {
    why: "RegisterRelease records the release once per releaseId; a rejected submission of it does not count",
    fromAbsent: true,
    from: ["REJECTED"],
    to: ["RUNNING"],
    fields: {
      ...REGISTRATION_FIELDS,
    },
    remove: ["errorName", "cause", "problems", "endedAt"],
    // A repeat of the same registration, only while its schedule is being written (schedulePending
    // means nothing started; a repeat after that finds the schedule written and starts from it).
    orWhen: "(#executionArn = :executionArn AND attribute_exists(#schedulePending))",
  },
  reject: {
    why: "RecordRejected or the submission function: a refused submission under its releaseId, never over a real release; the last 10 replace the list from the count read",
    fromAbsent: true,
    from: ["REJECTED"],
    to: ["REJECTED"],
    fields: {
      source: "set",
      errorName: "set",
      cause: "set",
      problems: "set",
      executionArn: "setOrRemove",
      startedAt: "set",
      endedAt: "set",
      rejections: "set",
      rejectionCount: "set",
    },
    when: ["(attribute_not_exists(#rejectionCount) OR #rejectionCount = :readCount)"],
    where: ["readCount"],
  },
  rejectApart: {
    why: "RecordRejected or the submission function: a refused submission without a releaseId of its own, under `rejected:<execution name>` or `rejected:api-<request id>`",
    create: true,
    to: ["REJECTED"],
  },
  cancel: {
    why: "A cancel, accepted once, only while no outcome exists (the release reads CANCELLING)",
    from: ["RUNNING"],
    fields: { cancelledBy: "set", cancelledAt: "set", cancelReason: "optional" },
    when: ["attribute_not_exists(#outcome)", "attribute_not_exists(#cancelledBy)"],
  },
  recordFailure: {
    why: "A pipeline failed: the running release keeps its first failure (and which pipeline), if the failure is of its attempt (a late end of an earlier attempt's execution is not)",
    from: ["RUNNING"],
    fields: { ...FIRST_FAILURE, firstFailurePipeline: "ifNotExists" },
    when: ["#attempt = :attempt"],
    where: ["attempt"],
  },
  halt: {
    why: "A gate was rejected or expired: the first failure, and nothing more starts",
    fields: { ...FIRST_FAILURE, halted: "ifNotExists" },
    exists: true,
  },
  settle: { why: "A pipeline settles: counted before its own item is marked", ...COUNT },
  decideOutcome: {
    why: "Every pipeline settled and nobody cancelled: the outcome, once",
    fields: { outcome: "set" },
    when: ["attribute_not_exists(#outcome)", "attribute_not_exists(#cancelledBy)"],
  },
  decideCancelledOutcome: {
    why: "Every pipeline settled after a cancel: the CANCELLED outcome, once",
    fields: { outcome: "set" },
    when: ["attribute_not_exists(#outcome)", "attribute_exists(#cancelledBy)"],
  },
  storeWait: {
    why: "AwaitRelease stores the wait's task token, for the execution that registered the release",
    fields: { taskToken: "set", waitingSince: "set" },
    when: ["#executionArn = :executionArn"],
    where: ["executionArn"],
  },
  markSucceeded: {
    why: "The workflow records the outcome (MarkSucceeded)",
    from: ["RUNNING"],
    to: ["SUCCEEDED"],
    fields: { endedAt: "set" },
    orWhen: "#status = :to",
  },
  markFailed: {
    why: "The workflow records the outcome or its failed wait (MarkFailed)",
    from: ["RUNNING"],
    to: ["FAILED"],
    fields: RELEASE_END,
    orWhen: "#status = :to",
  },
  markCancelled: {
    why: "The workflow records the CANCELLED outcome (MarkCancelled)",
    from: ["RUNNING"],
    to: ["CANCELLED"],
    fields: RELEASE_END,
    orWhen: "#status = :to",
  },
  abandon: {
    why: "Local mode after a restart: the stopped engine's running releases fail",
    from: ["RUNNING"],
    to: ["FAILED"],
    fields: RELEASE_END,
  },
  retry: {
    why: "RetryRelease: attempt n+1 of a failed or cancelled release, one of two racing retries wins",
    from: ["FAILED", "CANCELLED"],
    to: ["RUNNING"],
    fields: {
      attempt: "set",
      executionArn: "set",
      settledCount: "set",
      ...VIEW.RETRY_RECORD,
    },
    remove: [...ATTEMPT_END_FIELDS],
    when: ["#attempt = :previousAttempt"],
    where: ["previousAttempt"],
    orWhen: "#executionArn = :executionArn",
  },
  ...EXECUTION_END_CHANGES,
  ...BACKSTOP_CHANGES,
  ...RESUME_RELEASE_CHANGES,
  ...CRASH_CONSISTENCY_CHANGES,
  ...UPLOADER_CHANGES,
  ...REREGISTER_CHANGES,
} as const satisfies Record<string, ChangeDeclaration<ReleaseStatus, ReleaseItem>>;

/** Every write to a ReleasePipelines item. */
export const PIPELINE_CHANGES = {
  schedule: {
    why: "RegisterRelease writes the schedule; a repeated registration keeps the progress",
    create: true,
    to: ["Pending"],
    when: ["attribute_not_exists(#pipeline)"],
  },
  claim: {
    why: "Its dependencies succeeded: one starter wins the claim",
    from: ["Pending"],
    to: ["Starting"],
    fields: { claimedBy: "set", startingSince: "set" },
    remove: FREEZE_FIELDS,
  },
  ...FREEZE_PIPELINE_CHANGES,
  takeOver: {
    why: "The reconciler takes over a start whose claimant died, from the claimant it read",
    from: ["Starting"],
    to: ["Starting"],
    fields: { claimedBy: "set", startingSince: "set" },
    when: ["#claimedBy = :previousClaim"],
    where: ["previousClaim"],
  },
  recordStart: {
    why: "CodePipeline started it: the claimant records the execution",
    from: ["Starting"],
    to: ["Started"],
    fields: { pipelineExecutionId: "set", startedAt: "set", attempt: "set" },
    remove: ["startingSince"],
    when: ["#claimedBy = :claim"],
    where: ["claim"],
  },
  failStart: {
    why: "CodePipeline refused the start for good: the claimant records it, never one whose claim was taken over",
    from: ["Starting"],
    to: ["Failed"],
    fields: { endedAt: "set", cause: "set" },
    remove: ["startingSince"],
    when: ["#claimedBy = :claim"],
    where: ["claim"],
  },
  recordEnd: {
    why: "Its execution ended (an event, or the reconciler asking)",
    from: ["Started"],
    to: PIPELINE_ENDS,
    fields: { endedAt: "set", cause: "optional", ...VIEW.FAILURE_POINT_FIELDS },
    when: ["#pipelineExecutionId = :pipelineExecutionId"],
    where: ["pipelineExecutionId"],
  },
  ...SUCCESS_CHANGES,
  skip: {
    why: "It will never start: a dependency failed, or the release stopped starting pipelines",
    from: ["Pending", "Starting", "AwaitingApproval"],
    to: ["Skipped"],
    fields: { endedAt: "set", ...VIEW.STOPPED_BY_FIELD },
    remove: ["startingSince", "approvalDeadlineAt"],
  },
  openGate: {
    why: "A gated pipeline's dependencies succeeded: it waits for a decision until its deadline",
    from: ["Pending"],
    to: ["AwaitingApproval"],
    fields: { approvalRequestedAt: "set", approvalDeadlineAt: "set" },
  },
  approve: {
    why: "Approved: the decision takes the start claim in the same write",
    from: ["AwaitingApproval"],
    to: ["Starting"],
    fields: { claimedBy: "set", startingSince: "set", ...DECISION, comment: "optional" },
    remove: ["approvalDeadlineAt"],
  },
  rejectGate: {
    why: "Rejected: the pipeline is skipped and the release halts (the deadline stays until that is done)",
    from: ["AwaitingApproval"],
    to: ["Skipped"],
    fields: { endedAt: "set", cause: "set", ...DECISION, comment: "optional" },
  },
  expireGate: {
    why: "The reconciler closes a gate past the deadline it read",
    from: ["AwaitingApproval"],
    to: ["Skipped"],
    fields: { endedAt: "set", cause: "set", ...DECISION },
    when: ["#approvalDeadlineAt = :deadline"],
    where: ["deadline"],
  },
  settle: {
    why: "Its place will not change again (a resumed execution's item runs again): marked once, after the release counted it",
    from: SETTLED_STATUSES,
    ...ONCE,
  },
  ...SETTLE_ENDED,
  ...SCHEDULE_MARKS,
  resetForRetry: {
    why: "RetryRelease: what did not succeed waits again, once per attempt",
    from: NOT_SUCCEEDED,
    to: ["Pending"],
    fields: { resetForAttempt: "set", depsSucceeded: "setOrRemove", ...VIEW.ATTEMPT_APPENDED },
    remove: [
      "pipelineExecutionId",
      "startedAt",
      "endedAt",
      "cause",
      "claimedBy",
      "startingSince",
      "approvalRequestedAt",
      "approvalDeadlineAt",
      "decision",
      "decidedBy",
      "decidedAt",
      "comment",
      "settled",
      "executionAttempt",
      "resumedAt",
      ...FREEZE_FIELDS,
      ...VIEW.FAILURE_POINT_REMOVED,
    ],
    when: ["(attribute_not_exists(#resetForAttempt) OR #resetForAttempt < :resetForAttempt)"],
  },
  abandon: {
    why: "Local mode after a restart: what ran in the stopped engine reads Stopped, the rest Skipped",
    from: UNSETTLED,
    to: ["Stopped", "Skipped"],
    fields: { endedAt: "set" },
  },
  ...RESUME_PIPELINE_CHANGES,
} as const satisfies Record<string, ChangeDeclaration<ScheduleStatus, PipelineItem>>;

export type ReleaseChanges = typeof RELEASE_CHANGES;
export type PipelineChanges = typeof PIPELINE_CHANGES;
export type ReleaseChangeName = keyof ReleaseChanges;
export type PipelineChangeName = keyof PipelineChanges;
