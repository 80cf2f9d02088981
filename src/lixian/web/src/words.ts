// aria2's error codes (DESIGN.md, "aria2 compatibility"), in plain words for people.

const CODES: Record<string, string> = {
  "0": "Finished without error.",
  "1": "Something went wrong that lixian could not name more precisely.",
  "2": "The server took too long to answer (timeout).",
  "3": "The server says the file is not there (not found).",
  "4": "The server said the file is not there too many times in a row.",
  "5": "The download was too slow and was stopped (--lowest-speed-limit).",
  "6": "A network problem: the connection failed or was cut.",
  "7": "The daemon stopped before this download finished; resume it to continue.",
  "8": "The server cannot resume from where the download stopped.",
  "9": "The disk is full: free some space, then retry.",
  "10": "The pieces' length differs from the .aria2 control file's.",
  "11": "The same file is already being downloaded.",
  "12": "The same torrent is already being downloaded.",
  "13": "A file with that name already exists.",
  "14": "Renaming the file failed.",
  "15": "The file could not be opened.",
  "16": "The file could not be created: is the folder writable?",
  "17": "A file system error happened.",
  "18": "The folder could not be created.",
  "19": "The server's name could not be looked up (DNS).",
  "20": "The metalink document could not be read.",
  "21": "The FTP command failed.",
  "22": "The server answered with an error (a bad HTTP status).",
  "23": "Too many redirects: the server kept sending the download elsewhere.",
  "24": "The server asked for a login (HTTP 401): give a user and password, or cookies.",
  "25": "The .torrent file could not be read (bencode).",
  "26": "The .torrent file is damaged or not a torrent.",
  "27": "The magnet link is not valid.",
  "28": "An option was not valid.",
  "29": "The server is overloaded or down for now (HTTP 502/503): retry later.",
  "30": "The request could not be understood (JSON-RPC).",
  "31": "Removed by request.",
  "32": "The file's checksum does not match: the bytes are not the expected ones.",
};

export function plainError(code: unknown, message: unknown): string {
  const c = String(code ?? "");
  const base = CODES[c] ?? (c ? `Error ${c}.` : "");
  const detail = typeof message === "string" && message ? message : "";
  if (!detail) return base;
  if (!base) return detail;
  return `${base} (${detail})`;
}

import type { Task } from "./types";

export const STATUS_WORDS: Record<string, string> = {
  active: "Downloading",
  waiting: "Waiting",
  paused: "Paused",
  complete: "Complete",
  error: "Error",
  removed: "Removed",
};

const VERDICTS: Record<string, string> = {
  ok: "verified",
  truncated: "TRUNCATED: shorter than announced, or the media ends early",
  "wrong-size": "WRONG SIZE: longer than announced",
  "decode-errors": "DECODE ERRORS: ffmpeg found damaged media",
  "zero-runs": "long runs of zero bytes (synced as zeros?)",
};

export function verdictWords(status: string): string {
  return VERDICTS[status] ?? status;
}

/** The word a row shows: aria2's status, or what lixian is doing or found. */
export function statusWord(task: Task): string {
  const status = task.status ?? "waiting";
  const lx = task.lixian;
  if (status === "error") return plainError(task.errorCode, "").replace(/\.$/, "") || "Error";
  if (status === "active" && lx?.phase) {
    const done = Number(lx.phaseCompletedLength ?? 0);
    const total = Number(lx.phaseTotalLength ?? 0);
    const word = lx.phase.charAt(0).toUpperCase() + lx.phase.slice(1);
    return total > 0 ? `${word} ${Math.floor((100 * done) / total)}%` : word;
  }
  if (status === "paused" && lx?.pausedReason) return `Paused: ${lx.pausedReason}`;
  if (status === "complete" && lx?.verdict && !lx.verdict.ok) return `Complete, ${verdictWords(lx.verdict.status)}`;
  return STATUS_WORDS[status] ?? status;
}
