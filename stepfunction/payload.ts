/**
 * JSON as the Amazon States Language carries it: the values a state's Parameters, ResultSelector
 * and Result hold. Its own module because both the ASL builders (./asl.ts) and the integrations
 * they name (./integrations.ts) read it, and neither depends on the other for it.
 */
export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
/** A payload template: keys ending in `.$` hold a path or an intrinsic function. */
export type PayloadTemplate = { [key: string]: JsonValue };
