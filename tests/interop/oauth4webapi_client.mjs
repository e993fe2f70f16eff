// The RFC endpoints of a running tokengate, used by oauth4webapi over verified https, without
// its `allowInsecureRequests` switch.
//
// Usage: NODE_EXTRA_CA_CERTS=CA_FILE node oauth4webapi_client.mjs ISSUER CLIENT_ID CLIENT_SECRET SCOPE
//
// Discovers the RFC 8414 metadata at ISSUER (its issuer must be ISSUER), gets a
// client_credentials token (client_secret_basic), introspects it (RFC 7662), revokes it
// (RFC 7009) and introspects it again. Node verifies the server's certificate against its
// roots plus NODE_EXTRA_CA_CERTS. Prints one JSON object (never the token) and exits 0; any
// failure is thrown (exit 1) with its code.
import * as oauth from 'oauth4webapi'

const [issuerArg, clientId, clientSecret, scope] = process.argv.slice(2)
if (!scope) {
  console.error('usage: node oauth4webapi_client.mjs ISSUER CLIENT_ID CLIENT_SECRET SCOPE')
  process.exit(2)
}
const issuer = new URL(issuerArg)
const as = await oauth
  .discoveryRequest(issuer, { algorithm: 'oauth2' })
  .then((response) => oauth.processDiscoveryResponse(issuer, response))
const client = { client_id: clientId }
const auth = oauth.ClientSecretBasic(clientSecret)

const token = await oauth.processClientCredentialsResponse(
  as,
  client,
  await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope })),
)
const introspect = async () =>
  oauth.processIntrospectionResponse(
    as,
    client,
    await oauth.introspectionRequest(as, client, auth, token.access_token),
  )
const before = await introspect()
const revocation = await oauth.revocationRequest(as, client, auth, token.access_token)
const revocationStatus = revocation.status
await oauth.processRevocationResponse(revocation)
const after = await introspect()

console.log(
  JSON.stringify({
    client: 'oauth4webapi',
    issuer: as.issuer,
    token_type: token.token_type,
    token_length: token.access_token.length,
    scope: token.scope,
    expires_in: token.expires_in,
    active_before: before.active,
    introspected_client_id: before.client_id,
    revocation_status: revocationStatus,
    active_after: after.active,
  }),
)
