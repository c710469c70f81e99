// One helper both halves of the compile share.

/** Drops undefined fields so the config text carries only what was written. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
