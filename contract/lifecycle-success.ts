/**
 * A pipeline's success, recorded and marked settled in one write (docs/architecture.md,
 * "Settling"). Part of PIPELINE_CHANGES (contract/lifecycle.ts), which checks it against its
 * types; kept apart only for that file's size.
 *
 * A mark says the pipeline's end has been fully acted on. A success leaves nothing to act on that
 * the mark could get ahead of: its dependants are unsettled until they settle themselves, so no
 * release completes before they are started, and a lost invocation is redone by the reconciler
 * (a dependant without the success's mark, or a count short of the marks, on the RUNNING release's
 * schedule: handlers/release/reconcile-schedule.ts). A failure is still marked only after the
 * failure policy recorded it (`settle`).
 */
export const SUCCESS_CHANGES = {
  recordSuccess: {
    why: "Its execution succeeded: recorded and marked settled in one write; the release counts it after",
    from: ["Started"],
    to: ["Succeeded"],
    fields: { endedAt: "set", settled: "set" },
    when: ["#pipelineExecutionId = :pipelineExecutionId"],
    where: ["pipelineExecutionId"],
  },
} as const;
