// The VM's live contexts by id (contexts_ in proxy-wasm-cpp-host), added and removed once per
// stream. An open-addressing table on the id: ids are handed out in sequence, so they rarely
// collide, and adding and removing one costs a few array accesses, where a JS Map's set and
// delete showed as a sizeable part of a whole request in profiles.

import type { BaseContext } from "./context";

const EMPTY = -1;

export class ContextTable {
  /** Capacity is a power of two, kept at least twice the number of contexts. */
  private ids: number[] = [];
  private contexts: Array<BaseContext | undefined> = [];
  private mask = 0;
  private count = 0;

  constructor() {
    this.resize(16);
  }

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return this.ids[this.slot(id)] === id;
  }

  get(id: number): BaseContext | undefined {
    const i = this.slot(id);
    return this.ids[i] === id ? this.contexts[i] : undefined;
  }

  set(id: number, ctx: BaseContext): void {
    let i = this.slot(id);
    if (this.ids[i] !== id) {
      if ((this.count + 1) * 2 > this.ids.length) {
        this.resize(this.ids.length * 2);
        i = this.slot(id);
      }
      this.ids[i] = id;
      this.count++;
    }
    this.contexts[i] = ctx;
  }

  delete(id: number): boolean {
    let i = this.slot(id);
    if (this.ids[i] !== id) return false;
    // Backward-shift deletion: move up every later entry of the probe run that may take the
    // freed slot, so that lookups never need tombstones.
    for (let j = (i + 1) & this.mask; this.ids[j] !== EMPTY; j = (j + 1) & this.mask) {
      const home = this.ids[j] & this.mask;
      // The entry at j may move to i when its home slot is not cyclically within (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.ids[i] = this.ids[j];
        this.contexts[i] = this.contexts[j];
        i = j;
      }
    }
    this.ids[i] = EMPTY;
    this.contexts[i] = undefined;
    this.count--;
    return true;
  }

  /** The slot that holds `id`, or the empty slot where it would go. */
  private slot(id: number): number {
    const ids = this.ids;
    let i = id & this.mask;
    while (ids[i] !== id && ids[i] !== EMPTY) i = (i + 1) & this.mask;
    return i;
  }

  private resize(capacity: number): void {
    const oldIds = this.ids;
    const oldContexts = this.contexts;
    // Built by pushing: V8 then keeps them as packed arrays, without hole checks.
    this.ids = [];
    this.contexts = [];
    for (let i = 0; i < capacity; i++) {
      this.ids.push(EMPTY);
      this.contexts.push(undefined);
    }
    this.mask = capacity - 1;
    for (let i = 0; i < oldIds.length; i++) {
      if (oldIds[i] === EMPTY) continue;
      const j = this.slot(oldIds[i]);
      this.ids[j] = oldIds[i];
      this.contexts[j] = oldContexts[i];
    }
  }
}
