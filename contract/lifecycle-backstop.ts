/**
 * The release's ends the backstop records (handlers/release/execution-ended.ts): the workflow's
 * execution ended (FAILED, TIMED_OUT, ABORTED) after every pipeline settled and the outcome was
 * decided, but before its Mark state recorded it (a Mark state's write failed, the execution was
 * stopped or timed out in between). The decided outcome is what the schedule says, so it is what
 * is recorded; only for the execution that holds the release. Part of RELEASE_CHANGES
 * (contract/lifecycle.ts), kept apart only for that file's size.
 */
const DECIDED = ["attribute_exists(#outcome)", "#executionArn = :executionArn"];

export const BACKSTOP_CHANGES = {
  recordDecidedSucceeded: {
    why: "Its execution ended after the SUCCEEDED outcome was decided, before it was recorded: the backstop records it",
    from: ["RUNNING"],
    to: ["SUCCEEDED"],
    fields: { endedAt: "set" },
    when: DECIDED,
    where: ["executionArn"],
  },
  recordDecidedFailed: {
    why: "Its execution ended after the FAILED outcome was decided, before it was recorded: the backstop records it",
    from: ["RUNNING"],
    to: ["FAILED"],
    fields: { endedAt: "set", errorName: "set", cause: "set" },
    when: DECIDED,
    where: ["executionArn"],
  },
  recordDecidedCancelled: {
    why: "Its execution ended after the CANCELLED outcome was decided, before it was recorded: the backstop records it",
    from: ["RUNNING"],
    to: ["CANCELLED"],
    fields: { endedAt: "set", errorName: "set", cause: "set" },
    when: DECIDED,
    where: ["executionArn"],
  },
} as const;
