// A binary min-heap. The queue index keeps due deliveries and leases in heaps with lazy deletion:
// a node whose version no longer matches its owner is skipped when it reaches the top.

/** A binary min-heap ordered by `before`. */
export class MinHeap<T> {
  readonly #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  /** Number of nodes, stale ones included. */
  get size(): number {
    return this.#items.length;
  }

  /** The smallest node, without removing it. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Adds a node. */
  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  /** Drops the nodes `keep` rejects (stale ones) and restores the heap order. */
  prune(keep: (item: T) => boolean): void {
    const kept = this.#items.filter(keep);
    this.#items.length = 0;
    for (const item of kept) this.push(item);
  }

  /** Removes and returns the smallest node. */
  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && this.#before(items[l]!, items[m]!)) m = l;
      if (r < items.length && this.#before(items[r]!, items[m]!)) m = r;
      if (m === i) break;
      [items[i], items[m]] = [items[m]!, items[i]!];
      i = m;
    }
    return top;
  }
}
