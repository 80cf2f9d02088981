// Bundle the page into ./static (not committed; `make web` runs this, the wheel ships it).
// Relative URLs only, so the daemon works behind a reverse proxy under a path prefix.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "static");
const dev = process.argv.includes("--dev");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  legalComments: "none",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
await build({
  entryPoints: [join(here, "style.css")],
  bundle: true,
  minify: !dev,
  outfile: join(out, "app.css"),
  logLevel: "warning",
});
copyFileSync(join(here, "icon.svg"), join(out, "icon.svg"));

const hash = (name) => createHash("sha256").update(readFileSync(join(out, name))).digest("hex").slice(0, 12);
const html = readFileSync(join(here, "index.html"), "utf8")
  .replace("__JS_HASH__", hash("app.js"))
  .replace("__CSS_HASH__", hash("app.css"));
writeFileSync(join(out, "index.html"), html);
const sizes = ["index.html", "app.js", "app.css"].map((n) => `${n} ${readFileSync(join(out, n)).length} B`);
console.log(`lixian web: ${sizes.join(", ")}`);
