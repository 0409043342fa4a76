/**
 * Freeze windows in the schedule (issue 20, items 3-4; docs/architecture.md, "Freezes"): a
 * pipeline whose turn came while a freeze covers it stays `Pending` and records the hold
 * (`frozenBy`, `frozenUntil`), so every path that skips, cancels or retries a Pending pipeline
 * holds for a frozen one too; the release's view shows it `Frozen` (contract/release-view.ts).
 * The start's claim removes the hold. Part of PIPELINE_CHANGES (contract/lifecycle.ts), which
 * checks these against its types.
 */

/** What a held pipeline's item records. */
export interface FreezeFields {
  /** The freezes holding it, by name (every one that covers it). */
  frozenBy?: string[];
  /** When the latest of them ends; absent while one of them has no end. */
  frozenUntil?: string;
}

/** One audited override (`POST /releases/{id}/override-freeze`), as the release records it. */
export interface FreezeOverride {
  by: string;
  at: string;
  reason: string;
  /** The freezes overridden for this release: a freeze added later still holds it. */
  freezes: string[];
  /** The pipelines they held then. */
  pipelines: string[];
}

/** What a release's item records of overrides (appended, never rewritten). */
export interface FreezeOverrideFields {
  freezeOverrides?: FreezeOverride[];
}

/** The hold's attributes: the claim and a retry's reset remove them. */
export const FREEZE_FIELDS = ["frozenBy", "frozenUntil"] as const;

export const FREEZE_PIPELINE_CHANGES = {
  hold: {
    why: "Its turn came while a freeze covers it: it stays Pending, held, and nothing starts it",
    from: ["Pending"],
    fields: { frozenBy: "set", frozenUntil: "setOrRemove" },
  },
} as const;
