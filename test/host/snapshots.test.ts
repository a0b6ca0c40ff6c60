// A header map shares its entries with its snapshots (copy on write, appending in place):
// no change of the map may reach a snapshot taken before it, nor bytes built for it.
import * as assert from "node:assert/strict";
import { HeaderList } from "../../filter/host";
import { HeaderMap } from "../../filter/host/headers";
import { parsePairsBytes } from "./helpers";

const LIST: HeaderList = [[":method", "POST"], [":path", "/mcp"], ["content-type", "application/json"], ["x-tag", "a"]];

const pairsOf = (m: HeaderMap): HeaderList => parsePairsBytes(Buffer.from(m.pairs()));

describe("host: header map snapshots", () => {
  it("keep the entries they were taken with through every kind of change", () => {
    const m = HeaderMap.from(LIST, "request");
    const steps: Array<(m: HeaderMap) => void> = [
      (m) => m.add("x-new", "n"),
      (m) => m.add("x-more", "o"),
      (m) => m.set("x-tag", "b"),
      (m) => m.add("content-type", "more"),
      (m) => m.add(":protocol", "ws"),
      (m) => m.remove("x-new"),
      (m) => m.set("x-last", "l"),
      (m) => m.clear(),
      (m) => m.add("x-after", "1"),
    ];
    // Each snapshot is read only after every change, when a shared array would show them.
    const taken: Array<{ snap: ReturnType<HeaderMap["snapshot"]>; want: HeaderList }> = [];
    for (const step of steps) {
      taken.push({ snap: m.snapshot(), want: m.toList() });
      step(m);
    }
    for (const { snap, want } of taken) assert.deepEqual(snap.toList(), want);
    assert.deepEqual(m.toList(), [["x-after", "1"]]);
  });

  it("do not take the entries a later map of the same keys gets", () => {
    const first = HeaderMap.from(LIST, "request");
    const snap = first.snapshot();
    first.add("x-new", "n");
    const second = HeaderMap.from(LIST.map(([k, v]): [string, string] => [k, `${v}2`]), "request");
    second.add("x-other", "o");
    assert.deepEqual(snap.toList(), LIST);
    assert.deepEqual(first.toList(), [...LIST, ["x-new", "n"]]);
    assert.deepEqual(HeaderMap.from(LIST, "request").toList(), LIST);
  });

  it("leave pairs bytes to be built again once the map appended an entry", () => {
    const m = HeaderMap.from(LIST, "request");
    assert.deepEqual(pairsOf(m), LIST);
    m.add("x-new", "n");
    assert.deepEqual(pairsOf(m), [...LIST, ["x-new", "n"]]);
    assert.deepEqual(pairsOf(HeaderMap.from(LIST, "request")), LIST);
  });
});
