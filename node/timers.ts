/**
 * The node's timers, in one place so that stopping the node clears every one of them: periodic
 * work (gossip ticks, tx batches) and one-shot delays (consensus timeouts, the commit pause). A
 * delay that fires after `stop` does nothing.
 */
export class NodeTimers {
  private readonly timers = new Set<NodeJS.Timeout>();
  private halted = false;

  /** True once `stop` ran: modules check it before starting new work. */
  get stopped(): boolean {
    return this.halted;
  }

  every(ms: number, run: () => void): void {
    this.timers.add(setInterval(run, ms));
  }

  after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.halted) run();
    }, ms);
    this.timers.add(timer);
  }

  stop(): void {
    this.halted = true;
    for (const timer of this.timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    this.timers.clear();
  }
}
