// Bundles the dashboard (dashboard/src, plain TypeScript) with esbuild into
// dist/dashboard/ beside its page and style sheet: the relay serves them from
// there, so they ship in the package and nothing is loaded from elsewhere.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "dashboard");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "dashboard", "src", "main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) copyFileSync(join(root, "dashboard", file), join(out, file));
