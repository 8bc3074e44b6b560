import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

/** What the inspector page embeds; override with $KANADE_INSPECTOR_URL for a self-hosted UI. */
const INSPECTOR_UI = "https://stately.ai/inspect";
/** The relay keeps the latest events for a browser that connects late. */
const REPLAY_EVENTS = 2_000;

export interface InspectRelay {
  /** ws://127.0.0.1:<port> — where the agent sends its inspection events. */
  wsUrl: string;
  /** http://127.0.0.1:<port> — the page to open in a browser. */
  pageUrl: string;
  close(): Promise<void>;
}

/**
 * A loopback-only relay between the agent and the Stately inspector in a browser: the agent
 * connects as one WebSocket client, browsers (or test receivers) as others, and every message is
 * passed to everyone else. `@statelyai/inspect/server` does the same but listens on every
 * interface and opens a browser, neither of which an agent running as SYSTEM may do.
 */
export function startInspectRelay(
  port = 0,
  uiUrl = process.env.KANADE_INSPECTOR_URL || INSPECTOR_UI,
): Promise<InspectRelay> {
  const recent: string[] = [];
  const http = createServer((_req, res) => {
    const { port: p } = http.address() as AddressInfo;
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(bridgePage(p, uiUrl));
  });
  const wss = new WebSocketServer({ server: http });
  wss.on("connection", (ws) => {
    for (const msg of recent) ws.send(msg);
    ws.on("message", (data) => {
      const msg = data.toString();
      recent.push(msg);
      if (recent.length > REPLAY_EVENTS) recent.shift();
      for (const client of wss.clients)
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(msg);
    });
  });
  return new Promise((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, "127.0.0.1", () => {
      const { port: p } = http.address() as AddressInfo;
      resolve({
        wsUrl: `ws://127.0.0.1:${p}`,
        pageUrl: `http://127.0.0.1:${p}`,
        close: () =>
          new Promise<void>((done) => {
            for (const c of wss.clients) c.terminate();
            wss.close();
            http.close(() => done());
          }),
      });
    });
  });
}

function bridgePage(wsPort: number, uiUrl: string): string {
  return `<!DOCTYPE html><html><head><title>kanade-agent · Stately inspector</title>
<style>*{margin:0;padding:0}html,body,iframe{width:100%;height:100%;border:none}</style></head>
<body><iframe id="inspector" src="${uiUrl}"></iframe><script>
const iframe=document.getElementById('inspector');const buffer=[];let connected=false;
window.addEventListener('message',(e)=>{if(e.data&&e.data.type==='@statelyai.connected'){connected=true;buffer.forEach((ev)=>iframe.contentWindow.postMessage(ev,'*'));buffer.length=0;}});
const ws=new WebSocket('ws://127.0.0.1:${wsPort}');
ws.onmessage=(event)=>{const data=JSON.parse(event.data);if(connected){iframe.contentWindow.postMessage(data,'*');}else{buffer.push(data);}};
</script></body></html>`;
}
