/**
 * Debian packages the tests need (redis-server, chromium), installed when
 * missing on a fresh machine where the README's test command is all one runs.
 * Not part of the published module.
 *
 * @module
 */

/** The path of the executable `name` on PATH (or `name` itself, if a path). */
export async function findOnPath(name: string): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((dir) =>
      `${dir}/${name}`
    );
  for (const path of candidates) {
    const info = await Deno.stat(path).catch(() => undefined);
    if (info?.isFile && (info.mode ?? 0o111) & 0o111) return path;
  }
  return undefined;
}

/**
 * Installs a Debian package with apt-get, if this process is root and
 * apt-get exists; says whether it did. The package lists may be missing or
 * stale on a fresh machine, hence the update only when the first try fails.
 * apt's output is shown only when it fails, since it names mirror hosts.
 */
export async function installDebianPackage(name: string): Promise<boolean> {
  if (Deno.uid?.() !== 0 || await findOnPath("apt-get") === undefined) {
    return false;
  }
  console.error(`${name} is missing; installing the Debian package`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) =>
    new Deno.Command("apt-get", { args, env, stdout: "piped", stderr: "piped" })
      .output();
  let result = await run(["install", "-y", name]);
  if (!result.success) {
    await run(["update"]);
    result = await run(["install", "-y", name]);
  }
  if (!result.success) {
    console.error(new TextDecoder().decode(result.stderr));
  }
  return result.success;
}
