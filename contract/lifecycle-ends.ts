/**
 * The release's ends that no outcome brought: an execution that failed before, or instead of,
 * recording one (docs/architecture.md, "The workflow"). Part of RELEASE_CHANGES
 * (contract/lifecycle.ts), which checks them against its types; kept apart only for that file's size.
 */
export const EXECUTION_END_CHANGES = {
  failExecution: {
    why: "Registration or a retry failed after it took the release, or its execution ended without an outcome: the release fails",
    from: ["RUNNING"],
    to: ["FAILED"],
    fields: { endedAt: "set", errorName: "set", cause: "set" },
    when: ["#executionArn = :executionArn"],
    where: ["executionArn"],
  },
  failRetry: {
    why: "A retry failed before it took the release: its attempt is recorded, so the next retry's execution name is free",
    from: ["FAILED", "CANCELLED"],
    to: ["FAILED"],
    fields: { attempt: "set", executionArn: "set", endedAt: "set", errorName: "set", cause: "set" },
    when: ["#attempt = :previousAttempt"],
    where: ["previousAttempt"],
  },
} as const;
