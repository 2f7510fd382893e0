import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import type * as ClientModule from '../../src/engine/client/index.ts';
import type { ClientDoc, SyncClient } from '../../src/engine/client/index.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/test-server.ts';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const skip = existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

type BrowserWindow = {
  sp: typeof ClientModule;
  ready?: boolean;
  doc?: ClientDoc;
  client?: SyncClient;
};

describe('the client library in a real browser (Chromium, global WebSocket)', { skip }, () => {
  let t: TestServer;
  let http: Server;
  let browser: Browser;
  let page: Page;
  let bundleBytes = 0;

  before(async () => {
    t = await startTestServer();
    // The browser build: esbuild follows package.json's `browser` field, so node:zlib stays out.
    const out = await build({
      entryPoints: [`${ROOT}src/engine/client/index.ts`],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
    });
    const js = out.outputFiles[0]?.text ?? '';
    bundleBytes = js.length;
    assert.ok(!Object.keys(out.metafile.inputs).some((f) => f.startsWith('node:')), 'no Node built-ins in the browser bundle');
    const html = `<!doctype html><meta charset="utf-8"><title>syncpilot</title><script type="module">import * as sp from '/client.js'; window.sp = sp; window.ready = true;</script>`;
    http = createServer((req, res) => {
      if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (window as unknown as BrowserWindow).ready === true);
  });

  after(async () => {
    await browser?.close();
    await new Promise((r) => http?.close(r));
    await t?.close();
  });

  test('a browser client and a Node client edit one document and converge', async () => {
    assert.ok(bundleBytes > 0);
    const actor = await page.evaluate(async (url) => {
      const w = window as unknown as BrowserWindow;
      w.client = new w.sp.SyncClient({ url, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
      await w.client.connect();
      w.doc = w.client.open('browser-doc');
      await w.doc.whenSynced();
      w.doc.change((tx) => tx.insertText(tx.makeText('root', 'body'), 0, 'from the browser'));
      await w.doc.whenAcked();
      return w.client.actor;
    }, t.server.url);
    assert.match(actor, /^c-/);

    const node = t.client();
    await node.connect();
    const d = node.open('browser-doc');
    await d.whenSynced();
    const ref = d.crdt.get('root', 'body');
    assert.ok(ref?.kind === 'object');
    assert.equal(d.crdt.text(ref.id), 'from the browser');
    d.change((tx) => tx.insertText(ref.id, d.crdt.length(ref.id), ', and from Node'));
    await d.whenAcked();
    await page.waitForFunction(
      (id) => (window as unknown as BrowserWindow).doc?.crdt.text(id) === 'from the browser, and from Node',
      ref.id,
      { timeout: 5000 },
    );
  });

  test('offline edits in the browser are queued and delivered after reconnect', async () => {
    const pendingWhileOffline = await page.evaluate(() => {
      const w = window as unknown as BrowserWindow;
      const doc = w.doc;
      const client = w.client;
      if (doc === undefined || client === undefined) throw new Error('no doc');
      client.dropConnection();
      const ref = doc.crdt.get('root', 'body');
      if (ref?.kind !== 'object') throw new Error('no text');
      for (const ch of '!!!') doc.change((tx) => tx.insertText(ref.id, doc.crdt.length(ref.id), ch));
      return doc.pending.length;
    });
    assert.ok(pendingWhileOffline >= 3);
    await page.evaluate(async () => (window as unknown as BrowserWindow).doc?.whenAcked());
    const node = t.client();
    await node.connect();
    const d = node.open('browser-doc');
    await d.whenSynced();
    await waitFor(
      () => {
        const ref = d.crdt.get('root', 'body');
        return ref?.kind === 'object' && d.crdt.text(ref.id) === 'from the browser, and from Node!!!';
      },
      5000,
      'the offline edits',
    );
  });
});
