// Server side of the explorer: where its two static files come from.
import { buildUi } from './build.mjs';

// Set by esbuild.config.mjs in dist/main.mjs; absent when the server runs from source.
declare const __DSA_UI_JS__: string | undefined;
declare const __DSA_UI_CSS__: string | undefined;

export interface UiFiles {
  js: string;
  css: string;
}

/**
 * The explorer's script and stylesheet: embedded in the bundle, or — from source (tsx,
 * vitest) — built in memory by esbuild on first use, so a test serves what it just built.
 */
export class UiAssets {
  #files: Promise<UiFiles> | undefined;

  files(): Promise<UiFiles> {
    this.#files ??= this.#load();
    // A failed build is not remembered: the next request tries again.
    this.#files.catch(() => {
      this.#files = undefined;
    });
    return this.#files;
  }

  async #load(): Promise<UiFiles> {
    if (typeof __DSA_UI_JS__ === 'string' && typeof __DSA_UI_CSS__ === 'string') return { js: __DSA_UI_JS__, css: __DSA_UI_CSS__ };
    const esbuild = await import('esbuild');
    return buildUi(esbuild);
  }
}
