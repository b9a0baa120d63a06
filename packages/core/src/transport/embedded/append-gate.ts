/**
 * Orders plain appends against transaction commits. Plain sends append side by side (shared); a commit appends
 * alone (exclusive), so the end offsets it records in its journal are where its records land. A commit that
 * waits goes before sends that arrive after it, so a busy producer cannot starve it.
 *
 * Written here because it is a dozen lines; the async-lock libraries on npm offer mutexes, not shared modes.
 */
export class AppendGate {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiting: { readonly exclusive: boolean; readonly grant: () => void }[] = [];

  shared<T>(action: () => Promise<T>): Promise<T> {
    return this.hold(false, action);
  }

  exclusive<T>(action: () => Promise<T>): Promise<T> {
    return this.hold(true, action);
  }

  private async hold<T>(exclusive: boolean, action: () => Promise<T>): Promise<T> {
    if (this.waiting.length === 0 && this.free(exclusive)) this.take(exclusive);
    else await new Promise<void>((grant) => this.waiting.push({ exclusive, grant }));
    try {
      return await action();
    } finally {
      if (exclusive) this.exclusiveHeld = false;
      else this.sharedHolders--;
      this.grantWaiting();
    }
  }

  private free(exclusive: boolean): boolean {
    return !this.exclusiveHeld && (!exclusive || this.sharedHolders === 0);
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusiveHeld = true;
    else this.sharedHolders++;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.free(this.waiting[0]!.exclusive)) {
      const next = this.waiting.shift()!;
      this.take(next.exclusive);
      next.grant();
      if (next.exclusive) return;
    }
  }
}
