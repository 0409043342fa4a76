/**
 * How long a release may wait, measured against the one limit nothing can catch: a STANDARD
 * execution lasts at most one year, and one that reaches it ends TIMED_OUT without running any
 * Catch (docs/aws-facts.md, "Step Functions"). Every configured wait stays below it with room
 * for the states that record the release's failure, so the workflow's own backstop fires first.
 */

/** A STANDARD execution's duration quota: one year (365 days). */
export const EXECUTION_LIMIT_SECONDS = 365 * 24 * 3600;

/**
 * Room left after AwaitRelease's timeout for StopRelease, MarkFailed and PublishFailed with their
 * retries (each at most 6 tries, 30 s apart, and a Lambda invocation of at most 15 minutes): a day.
 */
export const ENDING_MARGIN_SECONDS = 24 * 3600;

/** AwaitRelease's timeout: the release's backstop, a day before the execution's own limit. */
export const RELEASE_WAIT_TIMEOUT_SECONDS = EXECUTION_LIMIT_SECONDS - ENDING_MARGIN_SECONDS;

/**
 * The most a single configured timeout (`longestPipelineRunHours`, a gate's `timeoutHours`) may
 * be: a day below the release's wait, so one pipeline's own limit always comes before the backstop.
 */
export const MAX_CONFIGURED_TIMEOUT_HOURS = (RELEASE_WAIT_TIMEOUT_SECONDS - 24 * 3600) / 3600;

/** The limit in words, for the messages that refuse a setting reaching it. */
export const CONFIGURED_TIMEOUT_LIMIT = `${MAX_CONFIGURED_TIMEOUT_HOURS} hours (a STANDARD execution's one-year limit, less two days for the release's backstop and its ending states)`;
