// node-opcua client that stays connected (as Node-RED does) and prints one JSON line per data change.
// Usage: node subscribe.mjs '<json job>'; job = {endpoint, nodeId, seconds}. Lines: {t: ms since epoch, value,
// status} for data changes, {event: "..."} for connection events. Exits after `seconds`.
import { OPCUAClient, AttributeIds, TimestampsToReturn, ClientSubscription, ClientMonitoredItem }
  from "node-opcua-client";

const job = JSON.parse(process.argv[2]);
const say = (o) => console.log(JSON.stringify(o));
const client = OPCUAClient.create({
  endpointMustExist: false,
  connectionStrategy: { maxRetry: 1000, initialDelay: 100, maxDelay: 500 },
  requestedSessionTimeout: 20000,
  keepSessionAlive: true,
});
for (const ev of ["connection_lost", "connection_reestablished", "backoff", "after_reconnection"]) {
  client.on(ev, () => say({ event: ev, t: Date.now() }));
}
await client.connect(job.endpoint);
const session = await client.createSession();
session.on("session_restored", () => say({ event: "session_restored", t: Date.now() }));
const sub = ClientSubscription.create(session, {
  requestedPublishingInterval: 100, requestedLifetimeCount: 100, requestedMaxKeepAliveCount: 10,
  maxNotificationsPerPublish: 100, publishingEnabled: true, priority: 1,
});
sub.on("started", () => say({ event: "subscription_started", id: sub.subscriptionId, t: Date.now() }));
const item = ClientMonitoredItem.create(sub, { nodeId: job.nodeId, attributeId: AttributeIds.Value },
  { samplingInterval: 100, discardOldest: true, queueSize: 10 }, TimestampsToReturn.Both);
item.on("changed", (dv) => say({ t: Date.now(), value: dv.value.value, status: dv.statusCode.name }));
setTimeout(async () => {
  try { await client.disconnect(); } catch (e) { /* gone */ }
  process.exit(0);
}, job.seconds * 1000);
