/**
 * A control decision's hand-off (handlers/release/hand-off.ts): the work's event and the
 * decision's announcement in one PutEvents, so the control call's answer waits for one call; only
 * a refused hand-off fails the call (bench/control-latency.ts measures the answer).
 */
import assert from "node:assert/strict";
import type { PutEventsCommand, PutEventsCommandOutput } from "@aws-sdk/client-eventbridge";
import type { ExecutionDeps } from "../handlers/executions";
import { handOff } from "../handlers/release/hand-off";

/** Deps whose EventBridge client answers each PutEvents with `answer` and records what was sent. */
function withEvents(answer: Partial<PutEventsCommandOutput>) {
  const sent: PutEventsCommand["input"][] = [];
  const events = {
    send: async (command: PutEventsCommand) => {
      sent.push(command.input);
      return answer;
    },
  };
  return { deps: { events } as unknown as ExecutionDeps, sent };
}

const ANNOUNCEMENT = { releaseId: "r-1", status: "CANCELLING" as const, causedBy: "bob" };

describe("a control decision's hand-off", () => {
  it("sends the hand-off and the decision's announcement in one PutEvents, the hand-off first", async () => {
    const { deps, sent } = withEvents({ FailedEntryCount: 0, Entries: [{ EventId: "1" }, { EventId: "2" }] });
    await handOff(deps, { releaseId: "r-1", action: "cancel" }, ANNOUNCEMENT);
    assert.equal(sent.length, 1);
    assert.deepEqual(
      sent[0].Entries?.map((e) => [e.DetailType, JSON.parse(e.Detail ?? "{}")]),
      [
        ["Release Control Decided", { releaseId: "r-1", action: "cancel" }],
        [
          "Release State Change",
          {
            ...ANNOUNCEMENT,
            kind: "release.cancelling",
            summary: "Release r-1 is being cancelled.",
            command: "release-machine watch r-1",
          },
        ],
      ],
    );
  });

  it("answers when only the announcement was refused, and fails when the hand-off was", async () => {
    const announcementRefused = withEvents({
      FailedEntryCount: 1,
      Entries: [{ EventId: "1" }, { ErrorCode: "InternalFailure", ErrorMessage: "try again" }],
    });
    const logged = console.error;
    console.error = () => undefined;
    try {
      await handOff(announcementRefused.deps, { releaseId: "r-1", action: "cancel" }, ANNOUNCEMENT);
    } finally {
      console.error = logged;
    }
    const handOffRefused = withEvents({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: "InternalFailure", ErrorMessage: "try again" }, { EventId: "2" }],
    });
    await assert.rejects(handOff(handOffRefused.deps, { releaseId: "r-1", action: "cancel" }, ANNOUNCEMENT), {
      message:
        /the cancel of release r-1 was recorded but its work not handed off: InternalFailure try again/,
    });
  });
});
