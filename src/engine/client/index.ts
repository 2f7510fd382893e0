export {
  SyncClient,
  type SyncClientOptions,
  type SyncClientEvents,
  type WebSocketLike,
  type WebSocketConstructor,
  type ClientState,
} from './sync-client.ts';
export { ClientDoc, type ClientDocEvents } from './client-doc.ts';
