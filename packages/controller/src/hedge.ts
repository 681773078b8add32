/** What `hedge` races: an attempt that gives a value to keep, or to discard (`drop`) when another won. */
export type HedgeOptions<T> = {
  /** Starts one attempt. */
  start: () => Promise<T>;
  /** While no attempt has succeeded, another starts this long after the last one. */
  spacingMs: number;
  /** Attempts started in all. */
  most: number;
  /** A failure no other attempt can change (a refusal): the race ends with it at once. */
  isFinal: (error: unknown) => boolean;
  /** Discards an attempt's value that came after the race was decided. */
  drop: (value: T) => void;
};

/**
 * Starts an attempt, and another every `spacingMs` while none has succeeded, up to `most`; an
 * attempt that fails with none other under way starts the next at once. Resolves with the first
 * success (later ones are dropped), or rejects with a final failure or, once every attempt has
 * failed, the last one's.
 */
export function hedge<T>({ start, spacingMs, most, isFinal, drop }: HedgeOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let started = 0;
    let failed = 0;
    let decided = false;
    let timer: NodeJS.Timeout | undefined;
    const decide = (settle: () => void) => {
      decided = true;
      clearTimeout(timer);
      settle();
    };
    const next = () => {
      if (decided || started >= most) return;
      started += 1;
      start().then(
        (value) => (decided ? drop(value) : decide(() => resolve(value))),
        (error: unknown) => {
          if (decided) return;
          failed += 1;
          if (isFinal(error) || failed >= most) return decide(() => reject(error));
          if (failed === started) {
            clearTimeout(timer);
            next();
          }
        },
      );
      clearTimeout(timer);
      timer = setTimeout(next, spacingMs);
    };
    next();
  });
}
