import { describe, expect, it } from "vitest";
import { duration } from "../../cli/messages.js";
import { pick } from "../../plugins/messages/respond.js";

// How `respond` names an option and `send --ttl` a duration: what a user types.

describe("respond picks an option by its label", () => {
  const claude = ["Yes", "Yes, and always allow access to src/ from this project", "No"];

  it("exact label first, even when it is a prefix of another", () => {
    expect(pick(claude, "Yes")).toBe("Yes");
    expect(pick(claude, "No")).toBe("No");
  });

  it("then the label in another case, then a unique case-insensitive prefix", () => {
    expect(pick(claude, "yes")).toBe("Yes");
    expect(pick(claude, "n")).toBe("No");
    expect(pick(claude, "yes, and")).toBe(claude[1]);
  });

  it("nothing for a prefix of several options or of none", () => {
    expect(pick(claude, "Y")).toBeUndefined();
    expect(pick(claude, "maybe")).toBeUndefined();
    expect(pick([], "Yes")).toBeUndefined();
  });
});

describe("send --ttl", () => {
  it("takes ms, s, m, h and plain seconds", () => {
    expect(duration("500ms", "--ttl")).toBe(500);
    expect(duration("90s", "--ttl")).toBe(90_000);
    expect(duration("10m", "--ttl")).toBe(600_000);
    expect(duration("1h", "--ttl")).toBe(3_600_000);
    expect(duration("30", "--ttl")).toBe(30_000);
  });

  it("refuses what is not a duration up to 24 h", () => {
    for (const bad of ["", "ten", "-5m", "25h", "0", "5 days"]) expect(() => duration(bad, "--ttl")).toThrow(/--ttl: expected a duration/);
  });
});
