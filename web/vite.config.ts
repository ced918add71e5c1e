import { defineConfig } from 'vite';

// `npm run dev` serves the app with hot reload and sends API and media
// requests to a Starling server on :8080 (`cargo run --bin starling`).
const backend = process.env.STARLING_DEV_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2020',
    assetsDir: 'assets',
    // Everything the server embeds should be a file; no inlined data URLs.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': backend,
      '/media': backend,
      '/socket.io': { target: backend, ws: true },
    },
  },
});
