// Hot reload: the operator updates a mounted ConfigMap by swapping a symlink in the folder, so the
// folder is watched (plus a slow poll for filesystems without inotify). A changed file is loaded
// whole; a bad one is refused with its problems and the last good configuration stays in force.
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.ts';
import { loadConfigFile, type LoadedConfig } from './load.ts';

/** What a reload did. */
export type ReloadOutcome = 'changed' | 'unchanged' | 'rejected';

/** Callbacks and timing for {@link ConfigWatcher}. */
export interface ConfigWatcherOptions {
  /** Called with the new configuration after it replaced the old one. */
  onChange: (next: LoadedConfig, previous: LoadedConfig) => void | Promise<void>;
  /** Called when a new file was refused; the previous configuration stays. */
  onRejected: (problems: readonly string[]) => void;
  /** Quiet time after a file event before reloading (a write often comes in pieces). */
  debounceMs?: number;
  /** Re-read interval when no file event arrives; 0 disables polling. */
  pollMs?: number;
}

/** Holds the configuration in force and replaces it when the file changes. */
export class ConfigWatcher {
  readonly path: string;
  #current: LoadedConfig;
  #options: ConfigWatcherOptions;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #reloading: Promise<ReloadOutcome> | undefined;
  #pinned = false;

  private constructor(path: string, initial: LoadedConfig, options: ConfigWatcherOptions) {
    this.path = path;
    this.#current = initial;
    this.#options = options;
  }

  /** Loads `path` (throwing ConfigError when the first load fails) and starts watching it. */
  static async start(path: string, options: ConfigWatcherOptions): Promise<ConfigWatcher> {
    const watcher = new ConfigWatcher(path, await loadConfigFile(path), options);
    watcher.#watch();
    return watcher;
  }

  /**
   * Starts from a config obtained elsewhere (the config stream or its snapshot): the file stays
   * watched but is only a fallback, never replacing a streamed config.
   */
  static startWith(
    path: string,
    initial: LoadedConfig,
    options: ConfigWatcherOptions,
  ): ConfigWatcher {
    const watcher = new ConfigWatcher(path, initial, options);
    watcher.#pinned = true;
    return watcher;
  }

  /**
   * Puts a config from the stream in force (generations only move forward); from then on the
   * file is not reloaded. Returns false when `next` is older than the config in force.
   */
  async offer(next: LoadedConfig): Promise<ReloadOutcome> {
    this.#pinned = true;
    if (next.config.generation < this.#current.config.generation) return 'unchanged';
    if (next.digest === this.#current.digest) return 'unchanged';
    const previous = this.#current;
    this.#current = next;
    await this.#options.onChange(next, previous);
    return 'changed';
  }

  /** The configuration in force. */
  get current(): LoadedConfig {
    return this.#current;
  }

  /** Re-reads the file now; concurrent calls share one reload. */
  reload(): Promise<ReloadOutcome> {
    this.#reloading ??= this.#reload().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(): Promise<ReloadOutcome> {
    if (this.#pinned) return 'unchanged';
    let next: LoadedConfig;
    try {
      next = await loadConfigFile(this.path);
    } catch (err) {
      this.#options.onRejected(
        err instanceof ConfigError ? err.problems : [(err as Error).message],
      );
      return 'rejected';
    }
    if (next.digest === this.#current.digest) return 'unchanged';
    const previous = this.#current;
    this.#current = next;
    await this.#options.onChange(next, previous);
    return 'changed';
  }

  #watch(): void {
    const schedule = (): void => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload(), this.#options.debounceMs ?? 100);
    };
    try {
      this.#watcher = watch(dirname(this.path), schedule);
      this.#watcher.on('error', () => undefined);
    } catch {
      // No inotify (or the folder vanished): the poll below still picks up changes.
    }
    const pollMs = this.#options.pollMs ?? 5000;
    if (pollMs > 0) {
      this.#poll = setInterval(() => void this.reload(), pollMs);
      this.#poll.unref();
    }
  }

  /** Stops watching. */
  close(): void {
    this.#watcher?.close();
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
  }
}
