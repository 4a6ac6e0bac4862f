// esbuild bundles the explorer's stylesheet imported from TypeScript.
declare module '*.css';
