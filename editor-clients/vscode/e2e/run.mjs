// End-to-end test of the refute extension in real VS Code: code-server 4.100.3 (VS Code
// 1.100.3) in headless Chromium, driven by playwright-core. Installs the .vsix into a
// fresh extensions dir, opens the workspace, runs "refute: Audit Workspace" from the
// command palette with no file open, waits for every finding in the Problems panel
// (FILE-problems.png), opens the file and applies a quick fix, opens a finding's evidence,
// checks the file changed on disk and the status bar shows the run; optionally asks a
// question and checks the rendered markdown answer. Every wait is bounded; screenshots
// are kept (FILE, FILE-ask.png, FILE-failure.png on failure).
//
//   node e2e/run.mjs --code-server DIR --vsix FILE --workspace DIR --port N
//        --screenshot FILE --expect-problem TEXT --fix-line N --fixed-text TEXT
//        [--expect-problems "A|B|C"] [--evidence-line N --evidence-tab NAME] [--findings-title TEXT]
//        [--findings-fix-title TEXT --findings-fixed-text TEXT]
//        [--ask-question TEXT --ask-expect TEXT] [--chromium /usr/bin/chromium] [--timeout-s 240]
//   node e2e/run.mjs --scenario missing-server --code-server DIR --vsix FILE --workspace DIR
//        --port N --screenshot FILE     (refute.server.command points nowhere: the error
//        message and its "Open Settings" button)
//   node e2e/run.mjs --scenario migrate ... --instruction TEXT --migrated-file REL
//        --migrated-text TEXT           (a migration from the palette; "Apply Proposed
//        Edits" opens VS Code's refactor preview; its Apply button writes the file)
//   node e2e/run.mjs --scenario multiroot ... --workspace FILE.code-workspace
//        --folders "/abs/a|/abs/b" --expect-problems "A|B|C" --dismiss-title TEXT --dismiss-line N
//                                       (a multi-root workspace: one server per folder;
//        Audit Workspace audits each; every folder's findings in the Problems panel and the
//        Findings view; a light-bulb dismiss in the last folder goes to that folder's
//        server; removing that folder from the workspace file stops its server)
//   node e2e/run.mjs --scenario budget-continue ... --ask-question TEXT --budget TEXT
//                                       (settings with a small token budget and call cap:
//        an Ask ends budget_reached, its notification's button resumes it with the typed
//        budget; with the budget setting removed, an audit that stops early is continued
//        from its "Continue audit" notification until it is complete)
//
// Prints one JSON line {"ok": true, "steps": [...]} (or ok false with the error) and
// exits 0 only when every check passed.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  out.scenario ??= "audit";
  const required = ["code-server", "vsix", "workspace", "port", "screenshot"];
  if (out.scenario === "audit") required.push("expect-problem", "fix-line", "fixed-text");
  else if (out.scenario === "migrate") required.push("instruction", "migrated-file", "migrated-text");
  else if (out.scenario === "multiroot") required.push("folders", "expect-problems", "dismiss-title", "dismiss-line");
  else if (out.scenario === "budget-continue") required.push("ask-question", "budget");
  else if (out.scenario !== "missing-server") throw new Error(`unknown --scenario ${out.scenario}`);
  for (const key of required) {
    if (!out[key]) throw new Error(`missing --${key}`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const timeoutS = Number(args["timeout-s"] ?? 240);
const deadline = Date.now() + timeoutS * 1000;
const steps = [];
const step = (msg) => {
  steps.push(`${((Date.now() - (deadline - timeoutS * 1000)) / 1000).toFixed(1)}s ${msg}`);
  process.stderr.write(`e2e: ${msg}\n`);
};
/** Milliseconds left before the overall deadline, at most `ms`. */
const budget = (ms) => Math.max(1000, Math.min(ms, deadline - Date.now()));

const entry = path.join(args["code-server"], "node_modules", "code-server", "out", "node", "entry.js");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "refute-vscode-e2e-"));
const userDataDir = path.join(scratch, "user-data");
const extensionsDir = path.join(scratch, "extensions");
const baseArgs = ["--user-data-dir", userDataDir, "--extensions-dir", extensionsDir];

let server;
let browser;
let page;
let serverLog = "";

async function main() {
  // 1. Install the extension the way a person would.
  const install = spawnSync(process.execPath, [entry, ...baseArgs, "--install-extension", args.vsix], {
    encoding: "utf8",
    timeout: budget(60_000),
  });
  if (install.status !== 0) throw new Error(`--install-extension failed (${install.status}): ${install.stdout}${install.stderr}`);
  const installed = fs.readdirSync(extensionsDir).filter((d) => d.startsWith("refute."));
  if (installed.length !== 1) throw new Error(`extension not in ${extensionsDir}: ${fs.readdirSync(extensionsDir)}`);
  step(`installed ${installed[0]}`);

  // 2. Start code-server on a fixed loopback port.
  server = spawn(process.execPath, [
    entry, ...baseArgs,
    "--auth", "none", "--bind-addr", `127.0.0.1:${args.port}`,
    "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
    "--disable-getting-started-override",
    args.workspace,
  ], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  // A .code-workspace file opens a multi-root workspace; anything else is one folder.
  const opens = args.workspace.endsWith(".code-workspace") ? "workspace" : "folder";
  const url = `http://127.0.0.1:${args.port}/?${opens}=${encodeURIComponent(args.workspace)}`;
  await until(budget(60_000), "code-server to answer /healthz", async () => {
    if (server.exitCode !== null) throw new Error(`code-server exited ${server.exitCode}: ${serverLog}`);
    try {
      return (await fetch(`http://127.0.0.1:${args.port}/healthz`)).ok;
    } catch {
      return false;
    }
  });
  step("code-server is up");

  // 3. Open the workbench in headless Chromium.
  browser = await chromium.launch({
    executablePath: args.chromium ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    timeout: budget(30_000),
  });
  const context = await browser.newContext({
    viewport: { width: 1400, height: 900 },
    permissions: ["clipboard-read", "clipboard-write"], // "Copy Finding Fingerprint"
  });
  page = await context.newPage();
  page.setDefaultTimeout(budget(30_000));
  await page.goto(url, { timeout: budget(60_000) });
  await page.locator(".monaco-workbench").waitFor({ timeout: budget(60_000) });
  // The explorer shows the workspace once the remote file system is ready.
  await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({ timeout: budget(60_000) });
  step("workbench loaded");
  if (args.scenario === "missing-server") return missingServer();
  if (args.scenario === "migrate") return migrate();
  if (args.scenario === "multiroot") return multiroot();
  if (args.scenario === "budget-continue") return budgetThenContinue();
  return audit();
}

/** Waits until the refute commands are in the palette (the extension may still be
 * activating), leaving the palette open on `label`. */
async function waitForPaletteCommand(label) {
  await until(budget(60_000), "the refute commands in the palette", async () => {
    await palette(`>${label}`);
    const row = page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first();
    const visible = await row.isVisible().catch(() => false);
    if (!visible) await page.keyboard.press("Escape");
    return visible;
  });
}

/** Waits until the refute commands are in the palette, then runs `label` with no file open. */
async function paletteCommandWithNoFileOpen(label) {
  await waitForPaletteCommand(label);
  const openTabs = await page.locator(".tabs-container .tab").count();
  if (openTabs !== 0) throw new Error(`expected no open editor, found ${openTabs} tab(s)`);
  await page.keyboard.press("Enter");
}

/** The run.json of every run in a folder's store. */
function runsIn(folder) {
  const dir = path.join(folder, ".refute", "state", "runs");
  const out = [];
  for (const id of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, id, "run.json"), "utf8")));
    } catch {}
  }
  return out;
}

const problemRows = (text) => page.locator(".markers-panel .monaco-list-row", { hasText: text });

/** Clicks `button` on the notification toast that says `text`. */
async function clickToastButton(text, button) {
  const toast = page.locator(".notification-toast", { hasText: text }).first();
  await toast.waitFor({ timeout: budget(60_000) });
  const message = (await toast.locator(".notification-list-item-message").innerText()).replace(/\s+/g, " ").trim();
  await toast.locator(".monaco-button", { hasText: button }).first().click();
  return message;
}

/** Issue 12 and 13 in the editor: resume with a larger budget, continue audit. */
async function budgetThenContinue() {
  const run = (id) => runsIn(args.workspace).find((r) => r.id === id);
  await paletteCommandWithNoFileOpen("refute: Ask...");
  await page.locator(".quick-input-widget", { hasText: "Question about this codebase" }).waitFor({ timeout: budget(15_000) });
  const input = page.locator(".quick-input-widget input");
  await input.fill(args["ask-question"]);
  await page.keyboard.press("Enter");
  step(`asked "${args["ask-question"]}" with a small token budget`);
  const said = await clickToastButton("the budget stopped it", "Resume with a larger budget");
  const askRun = runsIn(args.workspace).find((r) => r.workflow === "ask");
  if (askRun?.status !== "budget_reached") throw new Error(`the ask run is ${askRun?.status}, not budget_reached`);
  step(`notification: ${said}`);
  await page.locator(".quick-input-widget", { hasText: "with a larger budget" }).waitFor({ timeout: budget(15_000) });
  step(`budget box prefilled: ${await input.inputValue()}`);
  await input.fill(args.budget);
  await page.keyboard.press("Enter");
  try {
    await until(budget(120_000), "the resumed ask to complete", async () => run(askRun.id)?.status === "completed");
  } catch (error) {
    const now = run(askRun.id);  // say where it stands: still running, budget_reached again, failed...
    throw new Error(`${error.message}; the run is ${now?.status}${now?.error ? `: ${now.error}` : ""}`);
  }
  step(`resumed with ${args.budget}: ${run(askRun.id).status}, budget ${JSON.stringify(run(askRun.id).budget)}`);

  // With a large token budget (the call cap stays small), audits stop early and continue.
  // (Raised, not deleted: a setting removed in VS Code is not sent, so the server keeps it.)
  const settingsFile = path.join(args.workspace, ".vscode", "settings.json");
  const settings = JSON.parse(fs.readFileSync(settingsFile, "utf8"));
  settings["refute.budget.tokens"] = 10_000_000;
  fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
  await page.waitForTimeout(3000); // the configuration change reaches the server
  await runCommand("refute: Audit Workspace");
  const chain = [];
  for (let i = 0; i < 5; i++) {
    await until(budget(60_000), "an audit to start", async () => {
      const next = runsIn(args.workspace).filter((r) => r.workflow === "audit" && !chain.includes(r.id))
        .sort((a, b) => b.created_at - a.created_at)[0];
      if (next) chain.push(next.id);
      return Boolean(next);
    });
    const id = chain[chain.length - 1];
    await until(budget(60_000), `audit ${id} to complete`, async () => run(id)?.status === "completed");
    const info = run(id);
    step(`audit ${i + 1} ${id}: complete=${info.result?.complete} covered=${info.result?.covered} continues=${info.args?.continues ?? "-"}`);
    if (i > 0 && info.args?.continues !== chain[chain.length - 2]) throw new Error(`not a continuation: ${JSON.stringify(info.args)}`);
    if (info.result?.complete) break;
    const note = await clickToastButton(`${id} searched`, "Continue audit");
    step(`notification: ${note}`);
  }
  const last = run(chain[chain.length - 1]);
  if (chain.length < 2 || !last.result?.complete) throw new Error(`the audits never completed: ${chain}`);
  step(`complete after ${chain.length - 1} continuation(s)`);
  await page.screenshot({ path: args.screenshot, fullPage: true });
  step(`screenshot ${args.screenshot}`);
}

/** A multi-root workspace: one language server per folder, each with its own store. */
async function multiroot() {
  const folders = args.folders.split("|");
  const names = folders.map((f) => path.basename(f));
  await paletteCommandWithNoFileOpen("refute: Audit Workspace");
  step("Audit Workspace started from the palette with no file open");
  await until(budget(120_000), "a completed audit in every folder's own store", async () =>
    folders.every((f) => runsIn(f).some((r) => r.workflow === "audit" && r.status === "completed")));
  step(`a completed audit in each folder's store: ${folders.map((f, i) => `${names[i]}: ${runsIn(f).map((r) => r.id).join(",")}`).join("; ")}`);

  // Every folder's findings in the Problems panel: each title once per folder.
  await runCommand("Focus on Problems View");
  const expected = args["expect-problems"].split("|");
  for (const text of expected) {
    await until(budget(90_000), `"${text}" from every folder in the Problems panel`,
      async () => (await problemRows(text).count()) >= folders.length);
  }
  const rows = (await page.locator(".markers-panel .monaco-list-row").allInnerTexts()).map((r) => r.replace(/\s+/g, " ").trim());
  step(`problems panel (${rows.length} rows): ${rows.join(" | ")}`);
  for (const text of expected) step(`"${text}": ${await problemRows(text).count()} rows`);
  const problemsShot = args.screenshot.replace(/\.png$/, "-problems.png");
  await page.screenshot({ path: problemsShot, fullPage: true });
  step(`screenshot ${problemsShot}`);

  // The Findings view lists every folder's findings, each path prefixed by its folder.
  await runCommand("refute: Focus on Findings View");
  const sidebar = page.locator(".part.sidebar");
  for (const name of names) {
    await sidebar.locator(".monaco-list-row", { hasText: `${name}/lib/more.py` }).first().waitFor({ timeout: budget(30_000) });
  }
  const listed = (await sidebar.locator(".monaco-list-row").allInnerTexts()).map((r) => r.replace(/\s+/g, " ").trim());
  step(`findings view: ${listed.join(" | ")}`);

  // A light-bulb action in the last folder's file runs on that folder's server only.
  const last = folders[folders.length - 1];
  await palette("app.py");
  const pick = page.locator(".quick-input-list .monaco-list-row").filter({ hasText: "app.py" }).filter({ hasText: names[names.length - 1] }).first();
  await pick.waitFor({ timeout: budget(20_000) });
  await pick.click();
  await page.locator(".monaco-editor .view-lines", { hasText: "def average" }).first().waitFor({ timeout: budget(20_000) });
  const tab = (await page.locator(".tabs-container .tab.active").innerText()).replace(/\s+/g, " ").trim();
  step(`opened ${tab} of ${names[names.length - 1]}`);
  const titles = await codeActionWhenReady(args["dismiss-line"], new RegExp(`dismiss: ${args["dismiss-title"]}`, "i"));
  step(`light bulb: ${titles.map((t) => t.trim()).join(" | ")}`);
  const dismissed = (f) => path.join(f, ".refute", "dismissed.json");
  await until(budget(20_000), `${dismissed(last)} with the dismissal`, async () =>
    fs.existsSync(dismissed(last)) && fs.readFileSync(dismissed(last), "utf8").includes(args["dismiss-title"]));
  const elsewhere = folders.slice(0, -1).filter((f) => fs.existsSync(dismissed(f)));
  if (elsewhere.length) throw new Error(`the dismissal also reached ${elsewhere.join(", ")}`);
  step(`dismissed through ${names[names.length - 1]}'s server only (its .refute/dismissed.json; no other folder's)`);
  await until(budget(20_000), "the dismissed finding to leave the Problems panel for that folder",
    async () => (await problemRows(args["dismiss-title"]).count()) === folders.length - 1);
  step(`"${args["dismiss-title"]}" now in ${folders.length - 1} folder(s)`);
  await page.keyboard.press("Control+w");

  // Removing the folder from the workspace stops its server: its findings leave.
  const workspaceFile = JSON.parse(fs.readFileSync(args.workspace, "utf8"));
  workspaceFile.folders = workspaceFile.folders.filter((f) => path.resolve(path.dirname(args.workspace), f.path) !== last);
  fs.writeFileSync(args.workspace, JSON.stringify(workspaceFile, null, 2));
  await runCommand("Focus on Problems View");
  const other = expected.find((t) => t !== args["dismiss-title"]);
  await until(budget(60_000), `"${other}" only once the folder is gone`, async () => (await problemRows(other).count()) === folders.length - 1);
  step(`folder ${names[names.length - 1]} removed: "${other}" in ${await problemRows(other).count()} folder(s)`);
  await page.screenshot({ path: args.screenshot, fullPage: true });
  step(`screenshot ${args.screenshot}`);
}

/** A migration from the palette, then its edits through the refactor preview. */
async function migrate() {
  const file = path.join(args.workspace, args["migrated-file"]);
  const before = fs.readFileSync(file, "utf8");
  await waitForPaletteCommand("refute: Migrate");
  await page.keyboard.press("Enter");
  const input = page.locator(".quick-input-widget input");
  await page.locator(".quick-input-widget", { hasText: "What should change?" }).waitFor({ timeout: budget(15_000) });
  await input.fill(args.instruction);
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Workspace" }).first().waitFor({ timeout: budget(15_000) });
  await page.keyboard.press("Enter");
  step(`migration started: "${args.instruction}"`);

  // The run ends in the background (its run.json says so); nothing is written yet.
  const runsDir = path.join(args.workspace, ".refute", "state", "runs");
  let runId;
  await until(budget(120_000), "the migration run to complete", async () => {
    for (const id of fs.existsSync(runsDir) ? fs.readdirSync(runsDir) : []) {
      try {
        const info = JSON.parse(fs.readFileSync(path.join(runsDir, id, "run.json"), "utf8"));
        if (info.workflow === "migrate" && info.status === "completed") runId = id;
        if (info.workflow === "migrate" && ["failed", "cancelled"].includes(info.status)) throw new Error(`run ${id} ${info.status}: ${info.error}`);
      } catch (e) {
        if (e instanceof Error && /^run /.test(e.message)) throw e;
      }
    }
    return Boolean(runId);
  });
  if (fs.readFileSync(file, "utf8") !== before) throw new Error("the run wrote the file before any preview");
  step(`run ${runId} completed; ${args["migrated-file"]} unchanged on disk`);

  // Apply Proposed Edits: the server's WorkspaceEdit needs confirmation, so VS Code previews it.
  await runCommand("refute: Apply Proposed Edits");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: runId }).first().waitFor({ timeout: budget(15_000) });
  await page.keyboard.press("Enter");
  const panel = page.locator(".bulk-edit-panel[data-state=data]");
  await panel.waitFor({ timeout: budget(30_000) });
  await panel.locator(".monaco-tl-contents", { hasText: path.basename(args["migrated-file"]) }).first().waitFor({ timeout: budget(10_000) });
  const rows = (await panel.locator(".monaco-tl-contents").allInnerTexts()).map((r) => r.replace(/\s+/g, " ").trim());
  step(`refactor preview opened: ${rows.join(" | ")}`);
  if (fs.readFileSync(file, "utf8") !== before) throw new Error("the file changed while the preview was still open");
  const shot = args.screenshot.replace(/\.png$/, "-preview.png");
  await page.screenshot({ path: shot, fullPage: true });
  step(`screenshot ${shot}`);
  // Changes that need confirmation start unchecked: the person ticks the file (all its
  // changes at once; each change has its own box too), then Apply.
  const fileRow = panel.locator(".monaco-tl-contents", { hasText: path.basename(args["migrated-file"]) }).first();
  await fileRow.locator(".edit-checkbox").first().click();
  await until(budget(10_000), "the file's changes to be checked", async () =>
    (await panel.locator(".edit-checkbox.codicon-check, .edit-checkbox[aria-checked=true], .edit-checkbox.checked").count()) > 0
    || (await panel.locator("input.edit-checkbox:checked").count()) > 0);
  step(`${args["migrated-file"]} checked in the preview`);
  await panel.locator(".buttons .monaco-button", { hasText: "Apply" }).first().click();
  step("Apply clicked in the refactor preview");
  await until(budget(30_000), "the accepted edit on disk", async () => fs.readFileSync(file, "utf8").includes(args["migrated-text"]));
  step(`${args["migrated-file"]} written: ${fs.readFileSync(file, "utf8").split("\n")[0]}`);
  await page.locator(".notification-toast", { hasText: "applied 1 edit" }).first().waitFor({ timeout: budget(20_000) });
  step("the extension reports: applied 1 edit(s)");
  await page.screenshot({ path: args.screenshot, fullPage: true });
  step(`screenshot ${args.screenshot}`);
}

/** The server command points nowhere: the person is told so and can open the settings. */
async function missingServer() {
  const toast = page.locator(".notification-toast", { hasText: "is not an executable file or on PATH" }).first();
  await toast.waitFor({ timeout: budget(60_000) });
  step(`error shown: ${(await toast.locator(".notification-list-item-message").innerText()).trim()}`);
  await toast.locator(".monaco-button", { hasText: "Open Settings" }).click();
  // The settings editor opens filtered to refute.server (rendered "Refute › Server: Command").
  await page.locator(".settings-editor .setting-item-contents", { hasText: "Server: Command" }).first()
    .waitFor({ timeout: budget(20_000) });
  step("Open Settings shows the refute.server settings");
  await page.screenshot({ path: args.screenshot, fullPage: true });
  step(`screenshot ${args.screenshot}`);
}

async function audit() {
  // 4. With no file open, run the audit from the palette (the extension activates and
  //    starts the server on its own).
  await paletteCommandWithNoFileOpen("refute: Audit Workspace");
  step("audit started from the command palette with no file open");

  // 5. The Problems panel lists every finding, files never opened included (issue 16:
  //    it said "No problems have been detected" until each file was opened).
  await runCommand("Focus on Problems View");
  const expected = (args["expect-problems"] ?? args["expect-problem"]).split("|");
  for (const text of expected) {
    await page.locator(".markers-panel .monaco-list-row", { hasText: text }).first().waitFor({ timeout: budget(90_000) });
  }
  const rows = await page.locator(".markers-panel .monaco-list-row").allInnerTexts();
  step(`problems panel: ${rows.map((r) => r.replace(/\s+/g, " ").trim()).join(" | ")}`);
  const problemsShot = args.screenshot.replace(/\.png$/, "-problems.png");
  await page.screenshot({ path: problemsShot, fullPage: true });
  step(`screenshot ${problemsShot}`);

  // The status bar shows the run (calls, tokens, cost), fed by refute/runUpdate: one item
  // (checked now: a finished run fades from it after 10 s).
  const status = page.locator(".statusbar-item", { hasText: /refute audit: \d+ calls/ }).first();
  await status.waitFor({ timeout: budget(10_000) });
  step(`status bar: ${(await status.innerText()).trim()}`);
  const refuteItems = await page.locator(".statusbar-item", { hasText: /refute/ }).count();
  step(`status bar items about refute: ${refuteItems}`);
  if (refuteItems !== 1) throw new Error(`expected one refute status bar item, found ${refuteItems}`);

  // 6. Open the file, so the quick fix can be applied in its editor.
  await palette("app.py");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "app.py" }).first().waitFor({ timeout: budget(20_000) });
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines", { hasText: "def average" }).first().waitFor({ timeout: budget(20_000) });
  step("app.py open");

  // 7. Quick fix from the editor at the finding's line.
  const titles = await codeActionWhenReady(args["fix-line"], /apply fix/i);
  step(`quick fixes offered: ${titles.map((t) => t.trim()).join(" | ")}`);
  await page.locator(".monaco-editor .view-lines", { hasText: args["fixed-text"] }).first().waitFor({ timeout: budget(20_000) });
  step("the fix changed the editor");
  await page.keyboard.press("Control+s");
  const file = path.join(args.workspace, "app.py");
  await until(budget(20_000), "the fix on disk", async () => fs.readFileSync(file, "utf8").includes(args["fixed-text"]));
  step("the fix is saved to disk");
  // The fixed finding leaves the Problems panel (its fix is in the text); the others stay.
  await until(budget(20_000), "the fixed finding to leave the Problems panel", async () =>
    (await page.locator(".markers-panel .monaco-list-row", { hasText: args["expect-problem"] }).count()) === 0);
  step(`problems after the fix: ${(await page.locator(".markers-panel .monaco-list-row").allInnerTexts()).map((r) => r.replace(/\s+/g, " ").trim()).join(" | ")}`);


  // 9. Evidence of the other finding: a rendered preview titled by the finding.
  if (args["evidence-line"]) {
    const offered = await codeAction(args["evidence-line"], /show evidence/i);
    step(`evidence action offered: ${offered.filter((t) => /evidence/i.test(t)).map((t) => t.trim()).join(" | ")}`);
    const tab = page.locator(".tabs-container .tab", { hasText: new RegExp(`^Preview ${args["evidence-tab"]}`) }).first();
    await tab.waitFor({ timeout: budget(30_000) });
    step(`evidence tab: ${(await tab.innerText()).trim()}`);
    const preview = page.frameLocator("iframe.webview.ready").frameLocator("#active-frame").locator("body");
    await preview.filter({ hasText: "Verdicts and reasons" }).waitFor({ timeout: budget(30_000) });
    step("evidence preview rendered");
    await page.keyboard.press("Control+w");
  }
  await page.screenshot({ path: args.screenshot, fullPage: true });
  step(`screenshot ${args.screenshot}`);

  // 10. The Findings view: every finding with its verdict badge; apply a fix from it,
  //     copy a fingerprint, dismiss with a reason, then find each again under the
  //     "fixed" and "dismissed" filters.
  if (args["findings-title"]) {
    const sidebar = page.locator(".part.sidebar");
    const row = (title) => sidebar.locator(".monaco-list-row", { hasText: title }).first();
    await runCommand("refute: Focus on Findings View");
    await row(args["findings-title"]).waitFor({ timeout: budget(30_000) });
    const listed = await sidebar.locator(".monaco-list-row").allInnerTexts();
    step(`findings view: ${listed.map((r) => r.replace(/\s+/g, " ").trim()).join(" | ")}`);
    if (args["findings-fix-title"]) {
      await row(args["findings-fix-title"]).click();
      await runCommand("refute: Apply Fix");
      await page.locator(".monaco-editor .view-lines", { hasText: args["findings-fixed-text"] }).first()
        .waitFor({ timeout: budget(20_000) });
      step("apply fix from the Findings view changed the file's editor");
      await until(budget(20_000), "the fixed finding to leave the 'new' list",
        async () => (await row(args["findings-fix-title"]).count()) === 0);
      await runCommand("refute: Filter Findings...");
      await palette_select("fixed");
      await row(args["findings-fix-title"]).waitFor({ timeout: budget(20_000) });
      step(`filter fixed: ${(await row(args["findings-fix-title"]).innerText()).replace(/\s+/g, " ").trim()}`);
      await runCommand("refute: Filter Findings...");
      await palette_select("new");
    }
    const title = args["findings-title"];
    await row(title).waitFor({ timeout: budget(20_000) });
    await row(title).click();
    await runCommand("refute: Copy Finding Fingerprint");
    const copied = page.locator(".notification-toast", { hasText: "copied the fingerprint of" }).first();
    await copied.waitFor({ timeout: budget(15_000) });
    const clip = await page.evaluate(() => navigator.clipboard.readText()).catch(() => "");
    step(`copied: ${(await copied.innerText()).replace(/\s+/g, " ").trim()}; clipboard ${clip.length} chars`);
    await page.keyboard.press("Escape");
    await row(title).click();
    await runCommand("refute: Dismiss Finding...");
    const reason = page.locator(".quick-input-widget input");
    await reason.waitFor({ timeout: budget(10_000) });
    await reason.fill("callers never pass None");
    await page.keyboard.press("Enter");
    await until(budget(20_000), "the dismissed finding to leave the 'new' list", async () => (await row(title).count()) === 0);
    step("dismissed from the Findings view; gone from the new findings");
    await runCommand("refute: Filter Findings...");
    await palette_select("dismissed");
    await row(title).waitFor({ timeout: budget(20_000) });
    step(`filter dismissed: ${(await row(title).innerText()).replace(/\s+/g, " ").trim()}`);
    const findingsShot = args.screenshot.replace(/\.png$/, "-findings.png");
    await page.screenshot({ path: findingsShot, fullPage: true });
    step(`screenshot ${findingsShot}`);
  }

  // 11. Ask: the answer opens as a rendered markdown preview.
  if (args["ask-question"]) {
    await runCommand("refute: Ask...");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ timeout: budget(10_000) });
    await input.fill(args["ask-question"]);
    await page.keyboard.press("Enter");
    await page.locator(".tabs-container .tab", { hasText: /^Preview/ }).first().waitFor({ timeout: budget(60_000) });
    const preview = page.frameLocator("iframe.webview.ready").frameLocator("#active-frame").locator("body");
    await preview.filter({ hasText: args["ask-expect"] }).waitFor({ timeout: budget(30_000) });
    step(`ask preview shows "${args["ask-expect"]}"`);
    const askShot = args.screenshot.replace(/\.png$/, "-ask.png");
    await page.screenshot({ path: askShot, fullPage: true });
    step(`screenshot ${askShot}`);
  }
}

/** Goes to `line` of the active editor, opens the code action menu, and runs the action
 * whose title matches `wanted`; returns every title offered. */
async function codeAction(line, wanted, menuWaitMs = 20_000) {
  await palette(`:${line}`);
  await page.keyboard.press("Enter");
  await page.keyboard.press("End");
  await page.keyboard.press("Control+.");
  const menu = page.locator(".action-widget .monaco-list-row.action");
  await menu.first().waitFor({ timeout: budget(menuWaitMs) });
  const titles = await menu.allInnerTexts();
  if (!titles.some((t) => wanted.test(t))) throw new Error(`no ${wanted} among the code actions: ${titles}`);
  // The menu takes keys, not clicks (a pointer block covers it): move to the action, Enter.
  for (let i = 0; i <= titles.length; i++) {
    const focused = await page.locator(".action-widget .monaco-list-row.action.focused").getAttribute("aria-label");
    if (focused && wanted.test(focused)) break;
    if (i === titles.length) throw new Error(`could not focus ${wanted} in the code action menu: ${titles}`);
    await page.keyboard.press("ArrowDown");
  }
  await page.keyboard.press("Enter");
  return titles;
}

/** codeAction once the open file's diagnostics have arrived (a squiggle): a light bulb
 * asked before then answers "No code actions available"; asked again until it offers. */
async function codeActionWhenReady(line, wanted) {
  await page.locator(".monaco-editor .squiggly-error, .monaco-editor .squiggly-warning").first()
    .waitFor({ timeout: budget(30_000) });
  let titles = [];
  await until(budget(60_000), `${wanted} in the light bulb`, async () => {
    try {
      titles = await codeAction(line, wanted, 8_000);
      return true;
    } catch (e) {
      step(`light bulb not ready: ${String(e).split("\n")[0]}`);
      await page.keyboard.press("Escape");
      return false;
    }
  });
  return titles;
}

/** In an open quick pick, chooses the row whose label is exactly `label`. */
async function palette_select(label) {
  const input = page.locator(".quick-input-widget input");
  await input.fill(label);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first().waitFor({ timeout: budget(10_000) });
  await page.keyboard.press("Enter");
}

/** Opens the quick input with F1 and types `text` exactly: ">name" runs a command,
 * ":N" goes to a line, plain text opens a file. */
async function palette(text) {
  await page.keyboard.press("Escape");
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ timeout: budget(15_000) });
  await input.fill(text);
}

/** Runs a palette command by its label, waiting for it to be listed. */
async function runCommand(label) {
  await palette(`>${label}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: label }).first().waitFor({ timeout: budget(15_000) });
  await page.keyboard.press("Enter");
}

async function until(ms, what, fn) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

async function shutdown() {
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) {
    try {
      process.kill(-server.pid, "SIGTERM"); // code-server and its extension host
    } catch {}
  }
  fs.rmSync(scratch, { recursive: true, force: true });
}

let ok = false;
let error;
try {
  await main();
  ok = true;
} catch (e) {
  error = e instanceof Error ? e.stack ?? e.message : String(e);
  if (page) await page.screenshot({ path: args.screenshot.replace(/\.png$/, "-failure.png"), fullPage: true }).catch(() => {});
} finally {
  await shutdown();
}
process.stdout.write(JSON.stringify({ ok, steps, error, serverLog: ok ? undefined : serverLog.slice(-4000) }) + "\n");
process.exit(ok ? 0 : 1);
