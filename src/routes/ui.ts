import { getUiAsset, getUiPage } from '../../handlers/ui/page.ts';
import type { RouteDef } from '../routes.ts';

/** The data explorer: a page and its two static files; every data call it makes is an API route. */
export const uiRoutes: RouteDef[] = [
  { method: 'GET', path: '/ui', auth: 'none', scope: null, handler: getUiPage, summary: 'Data explorer (HTML; the key is entered in the page)', tag: 'service', responses: [200] },
  { method: 'GET', path: '/ui/assets/:file', auth: 'none', scope: null, handler: getUiAsset, summary: 'A static file of the data explorer', tag: 'service', responses: [200, 404], internal: true },
];
