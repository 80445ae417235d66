// Whether the chat keeps scrolling to the newest text. It follows the conversation until the
// user scrolls up (to read something earlier); then it stays put and the view offers "jump to
// latest" while new text arrives below. Scrolling back to the bottom, jumping, or asking a new
// question follows again. Content growing under a still scroll position never counts as the
// user scrolling up: only a scrollTop that went down does. Plain logic, tested in node.

/** The scroll container's geometry, as the DOM reports it. */
export interface ScrollBox {
  scrollTop: number;
  scrollHeight: number;
  clientHeight: number;
}

/** Pixels from the bottom that still count as "at the bottom". */
const SLACK = 24;

export function atBottom(b: ScrollBox): boolean {
  return b.scrollHeight - b.clientHeight - b.scrollTop <= SLACK;
}

export class Follower {
  private following = true;
  private lastTop = 0;
  /** New content arrived below while not following. */
  private unseen = false;

  get isFollowing(): boolean {
    return this.following;
  }

  /** Whether to offer "jump to latest". */
  get showJump(): boolean {
    return !this.following && this.unseen;
  }

  /** A scroll event (the user's, or ours). */
  onScroll(b: ScrollBox): void {
    if (atBottom(b)) {
      this.following = true;
      this.unseen = false;
    } else if (b.scrollTop < this.lastTop - 1) {
      this.following = false;
    }
    this.lastTop = b.scrollTop;
  }

  /** The user asked something (or jumped): follow from here on. */
  follow(): void {
    this.following = true;
    this.unseen = false;
  }

  /** Content changed; returns whether to scroll to the bottom now. */
  onContent(b: ScrollBox): boolean {
    if (this.following) return true;
    if (!atBottom(b)) this.unseen = true;
    return false;
  }

  /** After we scrolled to the bottom ourselves. */
  scrolledTo(top: number): void {
    this.lastTop = top;
  }
}
