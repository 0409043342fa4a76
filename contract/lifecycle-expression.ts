/**
 * Executes the declared lifecycle (contract/lifecycle.ts): renders a change to a DynamoDB
 * update's expressions, fills in a call's values, and renders the lifecycle as the table
 * docs/architecture.md shows ("Lifecycle").
 */
import type { AnyChange, FieldMode } from "./lifecycle-declaration";
import { PIPELINE_CHANGES, RELEASE_CHANGES } from "./lifecycle";
import { ReleasesTable, statusShardOf } from "./tables";

type Mode<C, K> = C extends { fields: infer F } ? (K extends keyof F ? F[K] : never) : never;
type FieldKeys<C> = C extends { fields: infer F } ? keyof F : never;
type OptionalMode = "optional" | "setOrRemove";

/** The values a change writes, typed by the item's attribute types: optional fields may be left out. */
export type ChangeFields<C, Item> = {
  [K in FieldKeys<C> & keyof Item as Mode<C, K> extends OptionalMode ? never : K]-?: Exclude<
    Item[K],
    undefined
  >;
} & {
  [K in FieldKeys<C> & keyof Item as Mode<C, K> extends OptionalMode ? K : never]?: Item[K];
};

type WhereOf<C> = C extends { where: readonly (infer W extends string)[] } ? W : never;
type ToOf<C> = C extends { to: readonly (infer T)[] } ? T : never;
type FromOf<C> = C extends { from: readonly (infer F)[] } ? F : never;

/** The `where` values a change's conditions name: required exactly when it names any. */
type WhereArg<C> = [WhereOf<C>] extends [never]
  ? { where?: never }
  : { where: Record<WhereOf<C>, string | number> };

/** The status a change enters: chosen by the call exactly when the change may enter several. */
type ToArg<C> = C extends { to: readonly [unknown] }
  ? { to?: ToOf<C> }
  : [ToOf<C>] extends [never]
    ? { to?: never }
    : { to: ToOf<C> };

/**
 * One execution of a change: its values, the status it enters when it may enter several, and
 * the one status it read when the condition must be that one.
 */
export type ChangeCall<C, Item> = { fields: ChangeFields<C, Item>; from?: FromOf<C> } & WhereArg<C> &
  ToArg<C>;

/** Where a placeholder's value comes from: a field of the call, a `where` value or a status. */
export type PlaceholderSource =
  | { field: string }
  | { where: string }
  | { status: string }
  | { emptyList: true }
  /** A release's `byStatus` partition for the status it enters (contract/tables.ts, statusShardOf). */
  | { statusShard: string };

/** A change rendered to a DynamoDB update's expressions; the values are still to be filled in. */
export interface ChangeExpression {
  UpdateExpression?: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  placeholders: Record<string, PlaceholderSource>;
}

const KEYS = { release: "releaseId", pipeline: "pipeline" } as const;

/**
 * Renders a declared change for the fields a call gives (`present`): the update expression, the
 * condition and the attribute names, and each value placeholder's source. Shared by the handlers
 * (plain values) and the workflow (JSONPath templates).
 */
export function changeExpression(
  change: AnyChange,
  key: keyof typeof KEYS,
  present: { fields: readonly string[]; to?: string; from?: string },
): ChangeExpression {
  const names = new Set<string>();
  const placeholders: Record<string, PlaceholderSource> = {};
  const name = (attribute: string) => {
    names.add(attribute);
    return `#${attribute}`;
  };
  const sets: string[] = [];
  const adds: string[] = [];
  const removes: string[] = (change.remove ?? []).map(name);
  if (change.to && !change.create) {
    const to = present.to ?? (change.to.length === 1 ? change.to[0] : undefined);
    if (to === undefined) throw new Error(`the change needs one of ${change.to.join(", ")}`);
    sets.push(`${name("status")} = :to`);
    placeholders[":to"] = { status: to };
    if (key === "release") {
      // Every release status is written with its byStatus partition, so the index follows it.
      sets.push(`${name(ReleasesTable.byStatusIndex.hashKey)} = :statusShard`);
      placeholders[":statusShard"] = { statusShard: to };
    }
  }
  for (const [field, mode] of Object.entries(change.fields ?? {}) as [string, FieldMode][]) {
    const given = present.fields.includes(field);
    if (!given && (mode === "optional" || mode === "setOrRemove")) {
      if (mode === "setOrRemove") removes.push(name(field));
      continue;
    }
    placeholders[`:${field}`] = { field };
    const value = `:${field}`;
    if (mode === "add") adds.push(`${name(field)} ${value}`);
    else if (mode === "ifNotExists") sets.push(`${name(field)} = if_not_exists(${name(field)}, ${value})`);
    else if (mode === "append") {
      placeholders[":emptyList"] = { emptyList: true };
      sets.push(`${name(field)} = list_append(if_not_exists(${name(field)}, :emptyList), ${value})`);
    } else sets.push(`${name(field)} = ${value}`);
  }
  const condition = conditionOf(change, key, present.from, name, placeholders);
  const update = [
    sets.length > 0 ? `SET ${sets.join(", ")}` : "",
    removes.length > 0 ? `REMOVE ${removes.join(", ")}` : "",
    adds.length > 0 ? `ADD ${adds.join(", ")}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  return {
    ...(change.create ? {} : { UpdateExpression: update }),
    ...(condition ? { ConditionExpression: condition } : {}),
    ...(names.size > 0
      ? { ExpressionAttributeNames: Object.fromEntries([...names].map((n) => [`#${n}`, n])) }
      : {}),
    placeholders,
  };
}

/** The condition: the statuses it leaves (or the item absent), `when`, then `orWhen`. */
function conditionOf(
  change: AnyChange,
  key: keyof typeof KEYS,
  read: string | undefined,
  name: (attribute: string) => string,
  placeholders: Record<string, PlaceholderSource>,
): string | undefined {
  const clauses: string[] = [];
  const from = read !== undefined ? [read] : (change.from ?? []);
  if (read !== undefined && !change.from?.includes(read))
    throw new Error(`${read} is not a status it leaves`);
  from.forEach((status, i) => (placeholders[from.length === 1 ? ":from" : `:from${i}`] = { status }));
  const status =
    from.length === 1
      ? `${name("status")} = :from`
      : from.length > 1
        ? `${name("status")} IN (${from.map((_, i) => `:from${i}`).join(", ")})`
        : "";
  const absent = change.fromAbsent ? `attribute_not_exists(${name(KEYS[key])})` : "";
  if (absent && status) clauses.push(`(${absent} OR ${status})`);
  else if (absent || status) clauses.push(absent || status);
  if (change.exists) clauses.push(`attribute_exists(${name(KEYS[key])})`);
  const extra = [...(change.when ?? []), ...(change.orWhen ? [change.orWhen] : [])];
  for (const text of extra) {
    for (const [, attribute] of text.matchAll(/#(\w+)/g)) name(attribute);
    for (const [placeholder, value] of text.matchAll(/:(\w+)/g)) {
      if (placeholders[placeholder] || value === "to") continue;
      placeholders[placeholder] = change.where?.includes(value) ? { where: value } : { field: value };
    }
  }
  clauses.push(...(change.when ?? []));
  const all = clauses.join(" AND ");
  if (!change.orWhen) return all || undefined;
  if (!all) return change.orWhen;
  return clauses.length > 1 ? `(${all}) OR ${change.orWhen}` : `${all} OR ${change.orWhen}`;
}

/** The fields a call gives values for. */
function presentFields(fields: object): string[] {
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([field]) => field);
}

/** A DynamoDB update's input (no table, key or return values) for one call of a declared change. */
export function updateInput<C extends AnyChange, Item>(
  change: C,
  key: keyof typeof KEYS,
  call: ChangeCall<C, Item>,
  releaseId?: string,
): {
  UpdateExpression: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
} {
  const fields: Record<string, unknown> = { ...call.fields };
  const where: Record<string, unknown> = { ...call.where };
  const rendered = changeExpression(change, key, {
    fields: presentFields(fields),
    ...(call.to !== undefined ? { to: String(call.to) } : {}),
    ...(call.from !== undefined ? { from: String(call.from) } : {}),
  });
  const values = Object.fromEntries(
    Object.entries(rendered.placeholders).map(([placeholder, source]) => {
      if ("status" in source) return [placeholder, source.status];
      if ("emptyList" in source) return [placeholder, []];
      if ("statusShard" in source) {
        if (releaseId === undefined) throw new Error(`no releaseId for ${placeholder}`);
        return [placeholder, statusShardOf(releaseId, source.statusShard)];
      }
      const value = "where" in source ? where[source.where] : fields[source.field];
      if (value === undefined) throw new Error(`no value for ${placeholder}`);
      return [placeholder, value];
    }),
  );
  const { placeholders: _, UpdateExpression = "", ...expressions } = rendered;
  return {
    UpdateExpression,
    ...expressions,
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}

/** A Put's input for a declared creation: the whole item, its status the one it starts in. */
export function createInput(
  change: AnyChange,
  key: keyof typeof KEYS,
  item: object,
): {
  Item: Record<string, unknown>;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
} {
  const to = change.to?.[0];
  if (!change.create || to === undefined) throw new Error("not a creation");
  const {
    placeholders: _,
    UpdateExpression: __,
    ...condition
  } = changeExpression(change, key, { fields: [] });
  const releaseId = key === "release" ? Reflect.get(item, KEYS.release) : undefined;
  const shard =
    typeof releaseId === "string"
      ? { [ReleasesTable.byStatusIndex.hashKey]: statusShardOf(releaseId, to) }
      : {};
  return { Item: { ...item, status: to, ...shard }, ...condition };
}

/** Where an item is before it exists, in the lifecycle's graph. */
export const ABSENT = "(none)";

/** One edge of the lifecycle: a change moving an item from one status to another. */
export interface LifecycleEdge {
  change: string;
  from: string;
  to: string;
}

/** The status moves of a set of declared changes (changes that keep the status are left out). */
export function lifecycleEdges(changes: Record<string, AnyChange>): LifecycleEdge[] {
  return Object.entries(changes).flatMap(([change, c]) => {
    const from = [...(c.create || c.fromAbsent ? [ABSENT] : []), ...(c.from ?? [])];
    return (c.to ?? []).flatMap((to) => from.map((f) => ({ change, from: f, to })));
  });
}

const list = (items: readonly string[] | undefined) => (items && items.length > 0 ? items.join(", ") : "");

/** One row per change: the item, its name, the statuses it leaves and enters, what it writes. */
function rows(item: string, changes: Record<string, AnyChange>): string[][] {
  return Object.entries(changes).map(([name, c]) => {
    const from = [...(c.create || c.fromAbsent ? [ABSENT] : []), ...(c.from ?? [])];
    const fields = Object.entries(c.fields ?? {}).map(([f, mode]) => (mode === "set" ? f : `${f} (${mode})`));
    const condition = [...(c.when ?? []), ...(c.orWhen ? [`or ${c.orWhen}`] : [])].map((w) => `\`${w}\``);
    return [
      item,
      `\`${name}\``,
      from.length > 0 ? list(from) : "any",
      c.to ? list(c.to) : "unchanged",
      list(fields),
      list(c.remove),
      condition.join(" "),
      c.why,
    ];
  });
}

/**
 * The lifecycle as a markdown table, padded as Prettier pads one: the declarations, in the words
 * docs/architecture.md shows them.
 */
export function lifecycleTable(): string {
  const table = [
    ["Item", "Change", "From", "To", "Sets", "Removes", "Also requires", "Why"],
    ...rows("Release", RELEASE_CHANGES),
    ...rows("Pipeline", PIPELINE_CHANGES),
  ];
  const widths = table[0].map((_, i) => Math.max(3, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  return [line(table[0]), line(widths.map((w) => "-".repeat(w))), ...table.slice(1).map(line)].join("\n");
}
