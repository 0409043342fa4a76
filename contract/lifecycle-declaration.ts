/**
 * The shape of one declared write to a Releases or ReleasePipelines item (contract/lifecycle.ts
 * declares them all; contract/lifecycle-expression.ts renders them into DynamoDB expressions).
 */

/**
 * How a change writes one attribute: `set` always, `optional` only when given, `setOrRemove` removes
 * it when not given, `ifNotExists` keeps a value there, `add` adds to a set or a number, `append` appends to a list.
 */
export type FieldMode = "set" | "optional" | "setOrRemove" | "ifNotExists" | "add" | "append";

/**
 * One write to an item, as data. A change with `to` moves the status; `from` is the condition on
 * the status it leaves (any status when absent). `when` adds conditions (`#attr` names an attribute,
 * `:value` a value of the call's `where` or `fields`); `orWhen` lets the same writer repeat it
 * whatever the status (an idempotent retry). `create` writes the whole item.
 */
export interface ChangeDeclaration<S extends string, Item> {
  readonly why: string;
  readonly create?: true;
  readonly from?: readonly S[];
  /** Also when the item does not exist yet. */
  readonly fromAbsent?: true;
  readonly to?: readonly S[];
  readonly fields?: { readonly [K in keyof Item]?: FieldMode };
  readonly remove?: readonly (keyof Item & string)[];
  readonly when?: readonly string[];
  /** Names of the `:value`s in `when` and `orWhen` that are not fields. */
  readonly where?: readonly string[];
  readonly orWhen?: string;
  /** Only on an existing item. */
  readonly exists?: true;
}

/** Any declared change, whatever its item: what the renderers read. */
export interface AnyChange {
  readonly why: string;
  readonly create?: true;
  readonly from?: readonly string[];
  readonly fromAbsent?: true;
  readonly to?: readonly string[];
  readonly fields?: { readonly [field: string]: FieldMode | undefined };
  readonly remove?: readonly string[];
  readonly when?: readonly string[];
  readonly where?: readonly string[];
  readonly orWhen?: string;
  readonly exists?: true;
}

/**
 * What a release's attempt leaves once it ended, removed when a new attempt takes the release
 * (`retry` in contract/lifecycle.ts, `reregister` in contract/lifecycle-reregister.ts): its outcome,
 * cancel, first failure, stored wait and end.
 */
export const ATTEMPT_END_FIELDS = [
  "outcome",
  "cancelledBy",
  "cancelReason",
  "cancelledAt",
  "firstFailure",
  "firstFailureError",
  "firstFailureBy",
  "firstFailurePipeline",
  "halted",
  "taskToken",
  "waitingSince",
  "endedAt",
  "errorName",
  "cause",
] as const;

/** What a registration sets on the release item (`register`, and `reregister` which adds its own). */
export const REGISTRATION_FIELDS = {
  executionArn: "set",
  startedAt: "set",
  source: "set",
  attempt: "set",
  failurePolicy: "set",
  pipelineCount: "set",
  pipelineTimeoutSeconds: "set",
  submittedBy: "set",
  listed: "set",
  schedulePending: "set",
} as const;
