/**
 * Discrete-event scheduler over simulated time: events run in (time, insertion order), so a run
 * depends only on its seed. A binary heap keeps it fast for long runs.
 */
interface Scheduled {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

export class Scheduler {
  private heap: Scheduled[] = [];
  private seq = 0;
  now = 0;

  at(time: number, run: () => void): void {
    this.push({ time: Math.max(time, this.now), seq: this.seq++, run });
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.now + delayMs, run);
  }

  /** Runs events until `until` returns true or simulated time passes `deadline`. */
  runUntil(deadline: number, until: () => boolean): void {
    while (this.heap.length > 0 && !until()) {
      const event = this.pop();
      if (event.time > deadline) {
        this.push(event);
        this.now = deadline;
        return;
      }
      this.now = event.time;
      event.run();
    }
  }

  get pending(): number {
    return this.heap.length;
  }

  private less(a: Scheduled, b: Scheduled): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(item: Scheduled): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): Scheduled {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && this.less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}
