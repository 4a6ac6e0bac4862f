export declare const UI_ENTRY: string;
export declare function buildUi(esbuild: typeof import('esbuild')): Promise<{ js: string; css: string }>;
