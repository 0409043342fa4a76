/**
 * Pulumi entry point: read the stack's settings, build one ReleaseMachine, export what a user
 * needs to submit and follow releases.
 */
import * as pulumi from "@pulumi/pulumi";
import { readSettings } from "./infra/config";
import { ReleaseMachine, aliasUnprefixedChildNames } from "./infra/release-machine";

const config = new pulumi.Config();
const machine = new ReleaseMachine(
  "release-machine",
  { settings: readSettings((key) => config.get(key), config.name) },
  // Stacks deployed before child names carried the component's name keep their resources.
  { transformations: [aliasUnprefixedChildNames("release-machine")] },
);

export const bucketName = machine.bucketName;
export const apiUrl = machine.apiUrl;
export const stateMachineArn = machine.stateMachineArn;
export const releasesTableName = machine.releasesTableName;
export const executionsTableName = machine.executionsTableName;
export const releasePipelinesTableName = machine.releasePipelinesTableName;
export const deadLetterQueueUrl = machine.deadLetterQueueUrl;
export const failedInvocationsQueueUrl = machine.failedInvocationsQueueUrl;
export const queueDepthAlarms = machine.queueDepthAlarms;
export const curlExample = machine.curlExample;
export const notificationTopicArn = machine.notificationTopicArn;
