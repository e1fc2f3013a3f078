import { expect } from "chai";
import { estimatedBytes, REGEX_CACHE_MAX_BYTES, regexCacheStats, route, wildcardMatches } from "../../src/broker/routing.js";

describe("routing", () => {
  describe("WILDCARD (RabbitMQ topic patterns)", () => {
    const cases: [string, string, boolean][] = [
      ["order.*.paid", "order.eu.paid", true],
      ["order.*.paid", "order.paid", false],
      ["order.*.paid", "order.eu.x.paid", false],
      ["order.#", "order", true],
      ["order.#", "order.a.b.c", true],
      ["#.paid", "paid", true],
      ["#.paid", "a.b.paid", true],
      ["#", "", true],
      ["#", "anything.at.all", true],
      ["*", "one", true],
      ["*", "one.two", false],
      ["a.#.z", "a.z", true],
      ["a.#.z", "a.b.c.z", true],
      ["a.#.z", "a.b.c", false],
      ["#.#", "a.b", true],
      ["exact", "exact", true],
      ["exact", "exactly", false],
    ];
    for (const [pattern, key, expected] of cases) {
      it(`${expected ? "matches" : "does not match"} ${JSON.stringify(key)} against ${JSON.stringify(pattern)}`, () => {
        expect(wildcardMatches(pattern, key)).to.equal(expected);
      });
    }

    it("stays fast on many '#' against a long key", () => {
      const pattern = Array(30).fill("#").join(".") + ".x";
      const key = Array(200).fill("a").join(".");
      const t0 = performance.now();
      expect(wildcardMatches(pattern, key)).to.equal(false);
      expect(performance.now() - t0).to.be.lessThan(500);
    });
  });

  describe("REGEX (RE2)", () => {
    it("matches anywhere in the bind key, as the original's regexp.MatchString; ^ and $ anchor", () => {
      expect(route("regex", "home", ["home", "homework", "office", "myhome"])).to.deep.equal(["home", "homework", "myhome"]);
      expect(route("regex", "^user\\.", ["user.created", "user.deleted", "users", "admin.user.x"])).to.deep.equal(["user.created", "user.deleted"]);
      expect(route("regex", "^home$", ["home", "homework"])).to.deep.equal(["home"]);
      expect(route("regex", "work$", ["home", "homework"])).to.deep.equal(["homework"]);
    });

    it("rejects patterns RE2 cannot run in linear time", () => {
      expect(() => route("regex", "(a)\\1", ["aa"])).to.throw(/not a valid RE2/);
    });

    it("evaluates a catastrophic-backtracking pattern in linear time", () => {
      const t0 = performance.now();
      expect(route("regex", "(a+)+$", ["a".repeat(10_000) + "!"])).to.deep.equal([]);
      expect(performance.now() - t0).to.be.lessThan(500);
    });
  });

  it("FULL matches equal keys only", () => {
    expect(route("full", "a", ["a", "ab", "b"])).to.deep.equal(["a"]);
  });

  describe("compiled REGEX patterns", () => {
    it("keeps no pattern that routed nowhere (its push fails)", () => {
      const before = regexCacheStats().entries;
      for (let i = 0; i < 20; i++) expect(route("regex", `nothing-${i}-[0-9]+`, ["q"])).to.deep.equal([]);
      expect(regexCacheStats().entries).to.equal(before);
    });

    it("bounds the cache by estimated memory: heavy Unicode patterns evict each other", () => {
      for (let i = 0; i < 20; i++) {
        const pattern = `[\\pL\\pN]{20}x${i}`;
        const key = `${"a".repeat(20)}x${i}`;
        expect(route("regex", pattern, [key])).to.deep.equal([key]);
      }
      const stats = regexCacheStats();
      expect(stats.estimatedBytes).to.be.at.most(REGEX_CACHE_MAX_BYTES);
      expect(stats.entries).to.be.at.most(REGEX_CACHE_MAX_BYTES / (8 * 1024 * 1024) + 20);
    });

    it("counts nested small repetitions at their product: heavy, as one large repetition is; plain patterns light", () => {
      const MiB = 1024 * 1024;
      // Each of the first three compiles to about 0.5 MiB or more.
      expect(estimatedBytes("(?:(?:.{9}){9}){9}N")).to.equal(8 * MiB);
      expect(estimatedBytes(".{1000}N")).to.equal(8 * MiB);
      expect(estimatedBytes("[\\pL]x")).to.equal(8 * MiB);
      expect(estimatedBytes("^orders\\.eu")).to.equal(64 * 1024);
      expect(estimatedBytes("x{3}y{2,3}")).to.equal(64 * 1024);
    });
  });
});
