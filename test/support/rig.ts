import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach } from "vitest";
import { TestDaemon, type TestDaemonOptions } from "./daemon.js";
import { TestHome } from "./env.js";
import { TestRelay, type TestRelayOptions } from "./relay.js";
import { TestTmux } from "./tmux.js";
import { waitFor } from "./wait.js";

/**
 * One integration test's world, made fresh before each test and torn down
 * after it: a host layout, an isolated tmux server, a test relay, and the
 * daemons started against that relay (killed at tear-down).
 */
export class Rig {
  home!: TestHome;
  tmux!: TestTmux;
  /** Replace it (a relay restarted on its port) and the new one is stopped at tear-down. */
  relay!: TestRelay;
  private readonly daemons: TestDaemon[] = [];
  private readonly cleanups: Array<() => void> = [];

  constructor(private readonly relayOptions: TestRelayOptions = {}) {}

  async setUp(): Promise<void> {
    this.home = new TestHome();
    this.tmux = new TestTmux();
    this.relay = await new TestRelay(this.relayOptions).start();
  }

  async tearDown(): Promise<void> {
    for (const d of this.daemons.splice(0)) await d.terminate("SIGKILL");
    await this.relay.stop();
    this.tmux.kill();
    for (const fn of this.cleanups.splice(0).reverse()) fn();
    this.home.remove();
  }

  /** Runs `fn` at tear-down, after the daemons, relay and tmux server are gone, before the home is removed. */
  onTearDown(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Starts a daemon (id `box` unless told) against this rig's relay. */
  daemon(options: Omit<TestDaemonOptions, "relayUrl"> = {}): TestDaemon {
    const d = new TestDaemon(this.home, this.tmux, { relayUrl: this.relay.url, ...options }).start();
    this.daemons.push(d);
    return d;
  }

  /** Waits for the daemon `id` to register with the relay (a daemon starts slowly on a loaded machine). */
  registered(id = "box", timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return waitFor(`registration of ${id}`, () => this.relay.orchestrators.get(id), timeoutMs);
  }

  /** Waits until the relay holds an answer to every control in `ids`. */
  answered(ids: number[], timeoutMs = 15_000): Promise<boolean> {
    return waitFor(`answers to ${ids.join(",")}`, () => ids.every((id) => this.relay.results.has(id)), timeoutMs);
  }

  /** What the fake agent CLIs wrote to their transcript: one object per event. */
  events(): Array<Record<string, any>> {
    const file = this.home.transcript;
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  }
}

/** A `Rig` set up before and torn down after each test of the file. */
export function useRig(relayOptions: TestRelayOptions = {}): Rig {
  const rig = new Rig(relayOptions);
  beforeEach(() => rig.setUp());
  afterEach(() => rig.tearDown());
  return rig;
}
