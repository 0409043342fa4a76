/**
 * The family of lifecycle events (contract/notification-events.ts): each kind's pattern against a
 * sample event, the kind each publisher's change is announced as, the workflow's rendering of the
 * same summary and command, the message the rules' input transformer words, and local mode's
 * printing of what the rules would send.
 */
import assert from "node:assert/strict";
import {
  KINDS,
  NOTIFICATION_KINDS,
  type NotificationKind,
  notificationFields,
  notificationInput,
  notificationPattern,
  renderNotification,
} from "../contract/notification-events";
import { type ReleaseChange, announce, kindOf } from "../contract/release-events";
import { RELEASE_EVENT_SOURCE } from "../contract/tables";
import { EventRouter, type EventEnvelope, compilePattern } from "../local/event-router";
import { routeNotifications } from "../local/event-rules";
import { releaseEndDetail } from "../stepfunction/release-workflow";

function sample(kind: NotificationKind, extra: Record<string, unknown> = {}): EventEnvelope {
  return {
    version: "0",
    id: `event-${kind}`,
    "detail-type": KINDS[kind].detailType,
    source: RELEASE_EVENT_SOURCE,
    account: "123456789012",
    time: "2026-12-08T03:00:00Z",
    region: "eu-west-1",
    resources: [],
    detail: {
      releaseId: "5.16",
      pipeline: "svc-b",
      causedBy: "arn:aws:iam::1:user/ann",
      ...notificationFields(kind, "5.16", "svc-b"),
      ...extra,
    },
  };
}

describe("the family of lifecycle events", () => {
  it("matches each kind's sample event with that kind's pattern, and no other kind's", () => {
    for (const kind of NOTIFICATION_KINDS) {
      const matches = compilePattern(notificationPattern(kind));
      assert.deepEqual(
        NOTIFICATION_KINDS.filter((other) => matches(sample(other))),
        [kind],
        kind,
      );
    }
  });

  it("maps the existing Pipeline Resumed event rather than publishing a second copy", () => {
    assert.deepEqual(notificationPattern("pipeline.resumed"), {
      source: ["release-machine"],
      "detail-type": ["Pipeline Resumed"],
      detail: { kind: ["pipeline.resumed"] },
    });
    assert.equal(KINDS["freeze.overridden"].detailType, "Release Freeze Overridden");
    const others = NOTIFICATION_KINDS.filter(
      (k) => k !== "pipeline.resumed" && k !== "freeze.overridden",
    ).map((k) => KINDS[k].detailType);
    assert.deepEqual([...new Set(others)], ["Release State Change"]);
  });

  it("announces each publisher's change as its kind, with the command to act", () => {
    const by = "arn:aws:iam::1:user/ann";
    const cases: [ReleaseChange, NotificationKind, string][] = [
      [
        { releaseId: "5.16", status: "RUNNING", attempt: 1, causedBy: by },
        "release.started",
        "release-machine watch 5.16",
      ],
      [
        { releaseId: "5.16", status: "RUNNING", attempt: 2, causedBy: by },
        "release.retried",
        "release-machine watch 5.16",
      ],
      [
        { releaseId: "5.16", status: "AWAITING_APPROVAL", pipeline: "svc-b", causedBy: "release-machine" },
        "gate.opened",
        "release-machine approve 5.16 svc-b",
      ],
      [
        { releaseId: "5.16", status: "RUNNING", pipeline: "svc-b", decision: "approve", causedBy: by },
        "gate.approved",
        "release-machine watch 5.16",
      ],
      [
        { releaseId: "5.16", status: "RUNNING", pipeline: "svc-b", decision: "reject", causedBy: by },
        "gate.rejected",
        "release-machine status 5.16",
      ],
      [
        {
          releaseId: "5.16",
          status: "RUNNING",
          pipeline: "svc-b",
          decision: "expired",
          causedBy: "release-machine",
        },
        "gate.expired",
        "release-machine status 5.16",
      ],
      [
        { releaseId: "5.16", status: "CANCELLING", causedBy: by },
        "release.cancelling",
        "release-machine watch 5.16",
      ],
      [
        { releaseId: "5.16", status: "SUCCEEDED", causedBy: by },
        "release.succeeded",
        "release-machine status 5.16",
      ],
      [{ releaseId: "5.16", status: "FAILED", causedBy: by }, "release.failed", "release-machine retry 5.16"],
      [
        { releaseId: "5.16", status: "CANCELLED", causedBy: by },
        "release.cancelled",
        "release-machine retry 5.16",
      ],
      [
        {
          releaseId: "5.16",
          status: "RUNNING",
          pipeline: "svc-b",
          pipelineStatus: "Started",
          pipelineExecutionId: "e-1",
          causedBy: "release-machine",
        },
        "pipeline.started",
        "release-machine watch 5.16",
      ],
      [
        {
          releaseId: "5.16",
          status: "RUNNING",
          pipeline: "svc-b",
          pipelineStatus: "Failed",
          pipelineExecutionId: "e-1",
          causedBy: "release-machine",
        },
        "pipeline.ended",
        "release-machine status 5.16",
      ],
    ];
    for (const [change, kind, command] of cases) {
      assert.equal(kindOf(change), kind);
      const submitter = kind === "release.started" ? { submittedBy: by } : {};
      assert.deepEqual(announce(change), {
        ...change,
        ...submitter,
        kind,
        summary: notificationFields(kind, "5.16", "svc-b").summary,
        command,
      });
    }
    assert.equal(announce(cases[2][0]).summary, "Pipeline svc-b of release 5.16 awaits approval.");
  });

  it("renders the workflow's end events with the same summary and command the handlers announce", () => {
    for (const [status, kind] of [
      ["SUCCEEDED", "release.succeeded"],
      ["FAILED", "release.failed"],
      ["CANCELLED", "release.cancelled"],
    ] as const) {
      const detail = releaseEndDetail(status) as Record<string, string>;
      assert.equal(detail.kind, kind);
      // States.Format('…{}…', $.releaseId), evaluated for releaseId 5.16.
      const format = (intrinsic: string) => {
        const match = /^States\.Format\('(.*)', \$\.releaseId\)$/.exec(intrinsic);
        assert.ok(match, intrinsic);
        return match[1].replaceAll("{}", "5.16");
      };
      const { summary, command } = notificationFields(kind, "5.16");
      assert.equal(format(detail["summary.$"]), summary);
      assert.equal(format(detail["command.$"]), command);
    }
  });

  it("words a readable message, or Amazon Q Developer's custom notification, from any event", () => {
    const event = sample("gate.opened");
    assert.equal(
      renderNotification(notificationInput("text"), event),
      "Pipeline svc-b of release 5.16 awaits approval. (by arn:aws:iam::1:user/ann) Act: release-machine approve 5.16 svc-b",
    );
    assert.deepEqual(JSON.parse(renderNotification(notificationInput("chat"), event)), {
      version: "1.0",
      source: "custom",
      content: {
        textType: "client-markdown",
        title: "Pipeline svc-b of release 5.16 awaits approval.",
        description: "By arn:aws:iam::1:user/ann. Act: `release-machine approve 5.16 svc-b`",
      },
    });
  });

  it("prints locally one line for each notification the default rules would send, and none for the rest", async () => {
    const router = new EventRouter();
    const lines: string[] = [];
    routeNotifications(router, (line) => lines.push(line));
    for (const kind of NOTIFICATION_KINDS) router.publish(sample(kind));
    await router.idle();
    assert.deepEqual(lines.sort(), [
      "03:00:00Z  notify     Pipeline svc-b of release 5.16 awaits approval. (by arn:aws:iam::1:user/ann) Act: release-machine approve 5.16 svc-b",
      "03:00:00Z  notify     Release 5.16 failed. (by arn:aws:iam::1:user/ann) Act: release-machine retry 5.16",
      "03:00:00Z  notify     Release 5.16 is held by a freeze. (by arn:aws:iam::1:user/ann) Act: release-machine status 5.16",
      "03:00:00Z  notify     Release 5.16 succeeded. (by arn:aws:iam::1:user/ann) Act: release-machine status 5.16",
    ]);
  });
});
