// Independent OPC UA client for the h2quarters tests (node-opcua, not written here).
// Usage: node peer.mjs '<json job>'; job = {endpoint, browse: [nodeId...], reads: [nodeId...],
//   writes: [{nodeId, dataType, value}], calls: [{objectId, methodId, args: [{dataType, value}]}],
//   securityMode: "None"|"SignAndEncrypt", user, password,
//   pkiFolder: client PKI directory (own certificate created there on first use)}
// Prints one JSON object: {browse: {nodeId: [browseName...]}, reads: {nodeId: {value, status}},
//   writes: {nodeId: status}, calls: {methodId: status}} or {error: message} with exit code 2.
import { OPCUAClient, MessageSecurityMode, SecurityPolicy, AttributeIds, DataType, UserTokenType }
  from "node-opcua-client";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";

const job = JSON.parse(process.argv[2]);
const secure = job.securityMode === "SignAndEncrypt";
const clientCertificateManager = job.pkiFolder
  ? new OPCUACertificateManager({ rootFolder: job.pkiFolder, automaticallyAcceptUnknownCertificate: true })
  : undefined;
const client = OPCUAClient.create({
  clientCertificateManager,
  endpointMustExist: false,
  securityMode: secure ? MessageSecurityMode.SignAndEncrypt : MessageSecurityMode.None,
  securityPolicy: secure ? SecurityPolicy.Basic256Sha256 : SecurityPolicy.None,
  connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
  requestedSessionTimeout: 10000,
});
const out = { browse: {}, reads: {}, writes: {}, calls: {} };
try {
  await client.connect(job.endpoint);
  const session = job.user
    ? await client.createSession({ type: UserTokenType.UserName, userName: job.user, password: job.password })
    : await client.createSession();
  for (const nodeId of job.browse ?? []) {
    const res = await session.browse(nodeId);
    out.browse[nodeId] = res.references.map((r) => r.browseName.name);
  }
  for (const w of job.writes ?? []) {
    const status = await session.write({
      nodeId: w.nodeId, attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType[w.dataType], value: w.value } },
    });
    out.writes[w.nodeId] = status.name;
  }
  for (const c of job.calls ?? []) {
    const res = await session.call({
      objectId: c.objectId, methodId: c.methodId,
      inputArguments: (c.args ?? []).map((a) => ({ dataType: DataType[a.dataType], value: a.value })),
    });
    out.calls[c.methodId] = res.statusCode.name;
  }
  for (const nodeId of job.reads ?? []) {
    const dv = await session.read({ nodeId, attributeId: AttributeIds.Value });
    const v = dv.value.value;
    out.reads[nodeId] = { value: (v && typeof v === "object" && "length" in v) ? Array.from(v) : v,
                          status: dv.statusCode.name,
                          sourceTimestamp: dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null,
                          serverTimestamp: dv.serverTimestamp ? dv.serverTimestamp.toISOString() : null };
  }
  await session.close();
  await client.disconnect();
  console.log(JSON.stringify(out));
} catch (err) {
  try { await client.disconnect(); } catch (e) { /* already gone */ }
  console.log(JSON.stringify({ error: String(err && err.message ? err.message : err) }));
  process.exit(2);
}
