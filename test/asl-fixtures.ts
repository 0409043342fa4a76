/** Small definitions the ASL tests build on: one place, so each test's one change stands out. */
import type { MapState } from "../stepfunction/asl";

/** An inline Map whose processor is the single Succeed state `inner`, going on to `then`. */
export function oneStateMap(inner: string, then: string): MapState {
  return {
    Type: "Map",
    ItemsPath: "$.items",
    ItemProcessor: {
      ProcessorConfig: { Mode: "INLINE" },
      StartAt: inner,
      States: { [inner]: { Type: "Succeed" } },
    },
    Next: then,
  };
}
