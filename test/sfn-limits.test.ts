/**
 * Step Functions as the local engine serves it: StopExecution and DescribeExecution through the
 * SDK, "Step Functions Execution Status Change" events on the local bus for every status change,
 * and the execution's own time limit (TIMED_OUT, no Catch).
 */
import assert from "node:assert/strict";
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SFNClient,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { LocalExecution } from "../local/engine";
import type { EventEnvelope, EventPattern } from "../local/event-router";
import { EXECUTION_STATUS_CHANGE } from "../local/execution-events";
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalReleaseMachine } from "../local/release-machine";
import { finished, localPipelines, newReleaseId, until, withLocalMachine } from "./local-helpers";

const PIPELINES = localPipelines({ "svc-a": 0, "svc-fails": 0, "svc-held": null }, ["svc-fails"]);

/** The pattern a rule on the workflow's ended executions would use. */
const ENDED_EXECUTIONS: EventPattern = {
  source: ["aws.states"],
  "detail-type": ["Step Functions Execution Status Change"],
  detail: { status: ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] },
};

const sfnClient = (machine: LocalReleaseMachine) =>
  new SFNClient({
    endpoint: machine.sfnEndpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });

/** Collects what a rule with ENDED_EXECUTIONS receives. */
function endedRule(machine: LocalReleaseMachine): EventEnvelope[] {
  const received: EventEnvelope[] = [];
  machine.router.addRule({
    name: "ended-executions",
    pattern: ENDED_EXECUTIONS,
    target: async (event) => {
      received.push(event);
      return "recorded";
    },
  });
  return received;
}

const heldRunning = async (machine: LocalReleaseMachine, releaseId: string): Promise<LocalExecution> => {
  const execution = machine.submit({ releaseId, pipelines: ["svc-held"] });
  await until("the release to wait for its held pipeline", () =>
    machine.codepipeline.executions("svc-held").some((e) => e.status === "InProgress"),
  );
  return execution;
};

describe("Step Functions limits and events in local mode", function () {
  this.timeout(20000);

  it("publishes a status-change event when an execution starts and when it succeeds, as EventBridge delivers it", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const received = endedRule(machine);
      const releaseId = newReleaseId("events-ok");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
      assert.equal(execution.status, "SUCCEEDED", execution.cause);
      await until("the rule to receive the end", () => received.length === 1);

      const mine = machine.router.published.filter(
        (e) => e.source === "aws.states" && e.detail.executionArn === execution.executionArn,
      );
      assert.deepEqual(
        mine.map((e) => e.detail.status),
        ["RUNNING", "SUCCEEDED"],
      );
      const [event] = received;
      assert.equal(event["detail-type"], EXECUTION_STATUS_CHANGE);
      assert.equal(event.account, LOCAL_ACCOUNT);
      assert.equal(event.region, LOCAL_REGION);
      assert.deepEqual(event.resources, [execution.executionArn]);
      assert.deepEqual(event.detail, {
        executionArn: execution.executionArn,
        stateMachineArn: machine.stateMachineArn,
        name: execution.name,
        status: "SUCCEEDED",
        startDate: execution.startDate.getTime(),
        stopDate: execution.stopDate?.getTime(),
        input: JSON.stringify(execution.input),
        output: JSON.stringify(execution.output),
        inputDetails: { included: true },
        outputDetails: { included: true },
        error: null,
        cause: null,
      });
      assert.equal(mine[0].detail.stopDate, null);
      assert.equal(mine[0].detail.output, null);
    });
  });

  it("publishes a FAILED status-change event with the execution's error and cause", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const received = endedRule(machine);
      const execution = await finished(
        machine,
        machine.submit({ releaseId: newReleaseId("events-failed"), pipelines: ["svc-fails"] }),
      );
      assert.equal(execution.status, "FAILED");
      await until("the rule to receive the end", () => received.length === 1);

      const { detail } = received[0];
      assert.equal(detail.status, "FAILED");
      assert.equal(detail.executionArn, execution.executionArn);
      assert.equal(detail.error, execution.error);
      assert.equal(detail.cause, execution.cause);
      assert.ok(typeof detail.error === "string" && detail.error.length > 0);
      assert.equal(detail.output, null);
      assert.equal(detail.outputDetails, null);
    });
  });

  it("stops a running execution through StopExecution: it ends ABORTED with the error and cause given, and says so on the bus", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const received = endedRule(machine);
      const sfn = sfnClient(machine);
      const execution = await heldRunning(machine, newReleaseId("stopped"));

      const stopped = await sfn.send(
        new StopExecutionCommand({
          executionArn: execution.executionArn,
          error: "Operator",
          cause: "not today",
        }),
      );
      const described = await sfn.send(
        new DescribeExecutionCommand({ executionArn: execution.executionArn }),
      );
      await finished(machine, execution);

      assert.ok(stopped.stopDate instanceof Date);
      assert.equal(described.status, "ABORTED");
      assert.equal(described.error, "Operator");
      assert.equal(described.cause, "not today");
      assert.equal(described.stateMachineArn, machine.stateMachineArn);
      assert.equal(described.stopDate?.getTime(), stopped.stopDate.getTime());
      assert.equal(execution.status, "ABORTED");
      await until("the rule to receive the end", () => received.length === 1);
      assert.deepEqual(
        [received[0].detail.status, received[0].detail.error, received[0].detail.cause],
        ["ABORTED", "Operator", "not today"],
      );

      // An execution that already ended stays as it ended; its stopDate is the answer.
      const again = await sfn.send(new StopExecutionCommand({ executionArn: execution.executionArn }));
      assert.equal(again.stopDate?.getTime(), stopped.stopDate.getTime());
      assert.equal(execution.status, "ABORTED");
      await machine.router.idle();
      assert.equal(received.length, 1, "a stop of an ended execution changes no status");
      sfn.destroy();
    });
  });

  it("answers StopExecution and DescribeExecution for an unknown execution with ExecutionDoesNotExist", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const sfn = sfnClient(machine);
      const executionArn = `${machine.stateMachineArn.replace(":stateMachine:", ":execution:")}:no-such`;
      await assert.rejects(sfn.send(new StopExecutionCommand({ executionArn })), ExecutionDoesNotExist);
      await assert.rejects(sfn.send(new DescribeExecutionCommand({ executionArn })), ExecutionDoesNotExist);
      sfn.destroy();
    });
  });

  it("ends an execution past its time limit TIMED_OUT, runs no Catch, and publishes the change", async () => {
    const visited: string[] = [];
    await withLocalMachine(
      {
        pipelines: PIPELINES,
        executionTimeoutSeconds: 0.3,
        onEngineEvent: (_arn, event) => {
          if (event.type === "StateEntered" && event.state?.name) visited.push(event.state.name);
        },
      },
      async (machine) => {
        const received = endedRule(machine);
        const execution = await finished(machine, await heldRunning(machine, newReleaseId("timed-out")));

        assert.equal(execution.status, "TIMED_OUT");
        assert.ok(execution.stopDate);
        assert.ok(visited.includes("AwaitRelease"), visited.join(", "));
        assert.ok(!visited.includes("StopRelease"), `no Catch ran: ${visited.join(", ")}`);
        await until("the rule to receive the end", () => received.length === 1);
        assert.equal(received[0].detail.status, "TIMED_OUT");
        assert.equal(received[0].detail.executionArn, execution.executionArn);
      },
    );
  });
});
