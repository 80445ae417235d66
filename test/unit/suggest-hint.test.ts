// The once-only hint about the suggestion list hiding ghost text: when it applies.
import { test } from "node:test";
import assert from "node:assert/strict";
import { needsSuggestHint, quickSuggestionsOn } from "../../src/commands/suggest-list.ts";

test("the list opens by itself with VS Code's defaults and with 'other' on; not when off or inline", () => {
  assert.equal(quickSuggestionsOn(undefined), true);
  assert.equal(quickSuggestionsOn({ other: "on", comments: "off", strings: "off" }), true);
  assert.equal(quickSuggestionsOn({ other: true }), true);
  assert.equal(quickSuggestionsOn(true), true);
  assert.equal(quickSuggestionsOn(false), false);
  assert.equal(quickSuggestionsOn({ other: "off" }), false);
  assert.equal(quickSuggestionsOn({ other: "inline" }), false);
});

test("the hint applies unless the list already yields to ghost text or does not open by itself", () => {
  assert.equal(needsSuggestHint({ quickSuggestions: { other: "on" }, suppressSuggestions: false }), true);
  assert.equal(needsSuggestHint({ quickSuggestions: { other: "on" }, suppressSuggestions: undefined }), true);
  assert.equal(needsSuggestHint({ quickSuggestions: { other: "on" }, suppressSuggestions: true }), false);
  assert.equal(needsSuggestHint({ quickSuggestions: false, suppressSuggestions: false }), false);
});
