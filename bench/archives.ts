/**
 * Each Lambda function's archive size, compressed, from the Pulumi program run under the strict
 * mocks: the code `pulumi up` would upload, sized by the same function the archive test uses.
 * Loads the program into this process (Pulumi's mocks are global), so it runs last.
 */
export async function lambdaArchiveBytes(): Promise<Record<string, number>> {
  const mocks = await import("../test/pulumi-mocks");
  await mocks.loadProgram();
  const { archiveBytes } = await import("../test/lambda-archive-files");
  const sizes: Record<string, number> = {};
  for (const fn of mocks.ofType("aws:lambda/function:Function")) sizes[fn.name] = await archiveBytes(fn.name);
  return sizes;
}
