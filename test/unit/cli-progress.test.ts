import { expect } from "chai";
import { progressLine } from "../../src/cli/commands/bench.js";

describe("gmq bench progress line", () => {
  it("fits 80 columns with the largest counts, rates and times", () => {
    const line = progressLine({ phase: "consume", done: 99_999_999, total: 100_000_000, rate: 999_999_999, failed: 99_999_999, elapsedS: 86_399.9 });
    expect(line.length).to.be.at.most(80);
    expect(line).to.include("99999999/100000000 999999999/s 99999999 failed 86399.9s");
  });

  it("draws the bar in proportion to what is done", () => {
    const line = progressLine({ phase: "push", done: 50, total: 100, rate: 10, failed: 0, elapsedS: 5 });
    const bar = /\[(#*)(-*)\]/.exec(line)!;
    expect(bar[1]!.length).to.equal(bar[2]!.length);
    expect(line.length).to.be.at.most(80);
  });
});
