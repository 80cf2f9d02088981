export type Status = "active" | "waiting" | "paused" | "error" | "complete" | "removed";
export const STATUSES: Status[] = ["active", "waiting", "paused", "complete", "error", "removed"];

/** A task as tellStatus / lixian.onTaskDiff shape it: aria2's strings, plus ``name``. */
export interface Task {
  gid: string;
  status?: Status;
  name?: string;
  totalLength?: string;
  completedLength?: string;
  downloadSpeed?: string;
  uploadSpeed?: string;
  uploadLength?: string;
  connections?: string;
  numSeeders?: string;
  seeder?: string;
  errorCode?: string;
  errorMessage?: string;
  bitfield?: string;
  numPieces?: string;
  pieceLength?: string;
  dir?: string;
  infoHash?: string;
  verifiedLength?: string;
  followedBy?: string[];
  following?: string;
  bittorrent?: { info?: { name?: string }; announceList?: string[][]; comment?: string; mode?: string };
  lixian?: LixianRecord;
  [key: string]: unknown;
}

/** tellStatus' ``lixian`` key: the daemon's own detail (core/finish.py, core/runner.py). */
export interface LixianRecord {
  sha256?: string;
  verdict?: { status: string; ok: boolean; messages: string[]; zeroRuns: Array<[number, number]> };
  delivery?: { location: string; verified: string | boolean; remoteHash?: [string, string] | null; detail?: string };
  phase?: string;
  phaseCompletedLength?: string;
  phaseTotalLength?: string;
  pausedReason?: string;
}

export interface TaskFile {
  index: string;
  path: string;
  length: string;
  completedLength: string;
  selected: string;
  uris: Array<{ uri: string; status: string }>;
}

/** ``params[0]`` of ``lixian.onTaskDiff`` (rpc/views.py). */
export interface Diff {
  changed: Array<Partial<Task> & { gid: string }>;
  removed: string[];
  stats: Record<string, string>;
  order?: string[];
  total?: number;
  counts?: Record<string, number>;
  full?: boolean;
}

export interface View {
  status?: Status[];
  name?: string;
  sort?: string;
  offset?: number;
  limit?: number;
  keys?: string[];
  gids?: string[];
}
