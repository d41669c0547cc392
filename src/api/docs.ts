import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Api } from './deps.ts';

/** Swagger UI served from the installed package: an undercloud has no internet, so no CDN. */
const assetsDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Rearguard API</title>
  <link rel="stylesheet" href="/v1/docs/swagger-ui.css">
  <link rel="icon" href="/v1/docs/favicon-32x32.png">
</head>
<body>
  <div id="ui"></div>
  <script src="/v1/docs/swagger-ui-bundle.js"></script>
  <script src="/v1/docs/init.js"></script>
</body>
</html>`;

// A separate script, so a strict Content-Security-Policy (no inline scripts) holds.
const init = `window.ui = SwaggerUIBundle({ url: '/v1/openapi.json', dom_id: '#ui', persistAuthorization: false });`;

const csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'";

export function registerDocs(api: Api) {
  api.get('/v1/docs', (c) => c.html(page, 200, { 'Content-Security-Policy': csp }));
  api.get('/v1/docs/init.js', (c) => c.body(init, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  api.get('/v1/docs/:asset', async (c) => {
    const type = assets[c.req.param('asset')];
    if (!type) return c.notFound();
    const body = await readFile(join(assetsDir, c.req.param('asset')));
    return c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
  });
}
