// The chat view follows the conversation until the user scrolls up; then it stays put and offers
// "jump to latest" when new text arrives below; a new question or the jump follows again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Follower, type ScrollBox } from "../../media/chat/follow.ts";

/** A scroll container: 300 px tall window on `height` px of content. */
function box(height: number, top: number): ScrollBox {
  return { scrollHeight: height, clientHeight: 300, scrollTop: top };
}

test("while following, new content scrolls down and no jump button shows", () => {
  const f = new Follower();
  assert.equal(f.onContent(box(1000, 0)), true);
  f.scrolledTo(700);
  f.onScroll(box(1000, 700));
  assert.equal(f.onContent(box(1200, 700)), true, "content grew under a still scroll position: still following");
  assert.equal(f.showJump, false);
});

test("scrolling up stops following; text arriving then offers jump to latest, which follows again", () => {
  const f = new Follower();
  f.scrolledTo(700);
  f.onScroll(box(1000, 700));
  f.onScroll(box(1000, 400)); // the user's wheel
  assert.equal(f.isFollowing, false);
  assert.equal(f.showJump, false, "nothing new yet");
  assert.equal(f.onContent(box(1300, 400)), false, "stays where the user is reading");
  assert.equal(f.showJump, true);
  f.follow(); // the jump button, or a new question
  assert.equal(f.onContent(box(1300, 400)), true);
  assert.equal(f.showJump, false);
});

test("scrolling back to the bottom follows again", () => {
  const f = new Follower();
  f.scrolledTo(700);
  f.onScroll(box(1000, 200));
  f.onContent(box(1100, 200));
  assert.equal(f.showJump, true);
  f.onScroll(box(1100, 795));
  assert.equal(f.isFollowing, true);
  assert.equal(f.showJump, false);
});
