/**
 * A releaseId used again (docs/architecture.md, "Submissions"): after a rejection (the release
 * item only records it, contract/lifecycle.ts `register`) and after a registration that failed for
 * good. That one is FAILED while it still says `schedulePending`: its schedule was never complete,
 * so nothing of it ever started (nothing starts before `scheduleWritten`). A new submission of the
 * releaseId, through any door, registers it again: `reregister` takes it back to RUNNING under the
 * new execution with the failed one's counts, failure and uploader removed, and records which
 * execution it `replaces` until its own schedule is complete; meanwhile RegisterRelease deletes the
 * leftover schedule items (handlers/release/reregistration.ts), so the schedule is exactly the new
 * manifest's. A release FAILED after its schedule was complete may have run: only `retry` takes it.
 * Part of RELEASE_CHANGES (contract/lifecycle.ts), which checks these against its types; kept apart
 * only for that file's size.
 */
import { ATTEMPT_END_FIELDS, REGISTRATION_FIELDS } from "./lifecycle-declaration";

/** One rejected submission of a releaseId, in brief: the item keeps only the current one's problems. */
export interface RejectionRecord {
  at: string;
  source: string;
  errorName: string;
  problemCount?: number; // absent on records written before the count was kept
  executionArn?: string;
}

/** The release item's field of a registration again. */
export interface ReregisterFields {
  /**
   * The execution whose failed registration this one replaces, while the new schedule is being
   * written: a repeat of the new registration clears the schedule again until `scheduleWritten`.
   */
  replaces?: string;
}

/**
 * Whether a release's registration failed for good: FAILED while its schedule was still pending,
 * so nothing of it started. Its releaseId is free for a new submission (RegisterRelease also reads
 * that no schedule item started before it takes it).
 */
export function failedForGood<R extends { status: string; schedulePending?: string }>(
  release: R | undefined,
): release is R & { schedulePending: string } {
  return release?.status === "FAILED" && release.schedulePending !== undefined;
}

export const REREGISTER_CHANGES = {
  reregister: {
    why: "RegisterRelease of a new submission after a registration that failed for good (FAILED with its schedule incomplete: nothing started): the release runs again under the new execution, its earlier counts, failure and uploader removed",
    from: ["FAILED"],
    to: ["RUNNING"],
    fields: {
      ...REGISTRATION_FIELDS,
      settledCount: "set",
      replaces: "set",
    },
    remove: [
      ...ATTEMPT_END_FIELDS,
      "problems",
      "retryRequested",
      "retryRequestedBy",
      "retryRequestedAt",
      "retriedBy",
      "retriedAt",
      "earlierAttempts",
      "resumedPipelines",
      "resumedAfterEnd",
      "lastResumedAt",
      "uploadedBy",
      "uploaderSourceIdentity",
      "uploadedFrom",
    ],
    // The failed registration read (its execution) is still the release's: of two racing
    // submissions one registers, the other gets DuplicateRelease.
    when: ["attribute_exists(#schedulePending)", "#executionArn = :replaces"],
  },
} as const;
