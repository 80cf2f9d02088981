// Actions on many tasks at once, in chunks of system.multicall.
import type { Rpc } from "./rpc";
import type { Task, TaskFile } from "./types";

type Result = { done: number; failed: Array<[string, string]> };

/** Remove: running and queued tasks stop (forceRemove); finished results are forgotten. */
export async function removeTasks(rpc: Rpc, gids: string[]): Promise<Result> {
  const first = await rpc.each("aria2.forceRemove", gids);
  const stopped = first.failed.map(([gid]) => gid);
  const second = await rpc.each("aria2.removeDownloadResult", stopped);
  return { done: first.done + second.done, failed: second.failed };
}

// Per-download options a retry carries over (aria2's "retry" in AriaNg does the same: read
// the options, add the URIs again, forget the failed result).
const CARRIED = [
  "dir", "out", "header", "user-agent", "referer", "split", "max-connection-per-server",
  "min-split-size", "http-user", "http-passwd", "max-download-limit", "checksum", "all-proxy",
  "no-proxy", "continue", "allow-overwrite", "auto-file-renaming", "max-tries", "retry-wait",
  "timeout", "connect-timeout", "lowest-speed-limit", "file-allocation", "remote-time",
  "conditional-get",
];

/** Retry failed or removed downloads: lixian.retry where the daemon has it (same GID,
 * progress kept), else aria2's way (add the URIs again with the options, forget the result). */
export async function retryTasks(rpc: Rpc, gids: string[], lixianRetry = false): Promise<Result> {
  if (lixianRetry) {
    const first = await rpc.each("lixian.retry", gids);
    if (!first.failed.length) return first;
    const rest = await readd(rpc, first.failed.map(([g]) => g));
    return { done: first.done + rest.done, failed: rest.failed };
  }
  return readd(rpc, gids);
}

async function readd(rpc: Rpc, gids: string[]): Promise<Result> {
  let done = 0;
  const failed: Array<[string, string]> = [];
  for (let i = 0; i < gids.length; i += 200) {
    const part = gids.slice(i, i + 200);
    const reads = await rpc.multicall(part.flatMap((g) => [
      ["aria2.tellStatus", [g, ["gid", "status", "files", "bittorrent"]]] as [string, unknown[]],
      ["aria2.getOption", [g]] as [string, unknown[]],
    ]));
    const adds: Array<[string, unknown[]]> = [];
    const olds: string[] = [];
    part.forEach((gid, j) => {
      const st = reads[2 * j];
      const op = reads[2 * j + 1];
      if (!st.ok) return failed.push([gid, st.error.message]);
      const task = st.value as Task & { files?: TaskFile[] };
      if (task.status !== "error" && task.status !== "removed") return failed.push([gid, "only failed or removed downloads are retried"]);
      if (task.bittorrent) return failed.push([gid, "a torrent cannot be retried from its result: add the .torrent or magnet again"]);
      const uris = [...new Set((task.files ?? []).flatMap((f) => f.uris.map((u) => u.uri)))];
      if (!uris.length) return failed.push([gid, "the download has no URI to retry"]);
      const given = op.ok ? (op.value as Record<string, string | string[]>) : {};
      const options: Record<string, string | string[]> = {};
      for (const name of CARRIED) if (given[name] !== undefined && given[name] !== "") options[name] = given[name];
      adds.push(["aria2.addUri", [uris, options]]);
      olds.push(gid);
      return undefined;
    });
    const added = await rpc.multicall(adds);
    const forget: string[] = [];
    added.forEach((r, j) => {
      if (r.ok) {
        done += 1;
        forget.push(olds[j]);
      } else failed.push([olds[j], r.error.message]);
    });
    await rpc.each("aria2.removeDownloadResult", forget);
  }
  return { done, failed };
}
