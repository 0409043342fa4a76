import { startLocalReleaseMachine } from "../local/release-machine";
(async () => {
  const m = await startLocalReleaseMachine({
    pipelines: [{ name: "h-a", durationMs: 0, outcome: "Succeeded" }],
    retryPauseMs: 5,
    historyLimit: 10,
  });
  const e = m.submit({ releaseId: "h1", pipelines: ["h-a"] });
  const d = await e.done;
  console.log(d.status, d.error, JSON.stringify(d.costs), d.largestStateBytes);
  await m.close();
})();
