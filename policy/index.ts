/**
 * The CrossGuard policy pack: `pulumi preview --policy-pack policy` (see README.md). Only
 * constructs the pack; the policies live in policies.ts, which the tests import instead
 * (constructing a PolicyPack starts its gRPC server).
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("release-machine-security", { policies });
