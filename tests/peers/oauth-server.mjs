// A real OAuth 2.0 authorization server (panva/oidc-provider) for the integration
// tests: client-credentials tokens, RFC 7009 revocation, RFC 7662 introspection, and a
// protected resource that answers 401 for a token that is not active.
// Prints one JSON line {"issuer", "port"} on stdout once it listens.
import http from 'node:http';
import Provider from 'oidc-provider';

const clients = [
  // Agents get their tokens with this client.
  { client_id: 'agents', client_secret: 'agents-secret-0123456789abcdef', grant_types: ['client_credentials'],
    redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
  // ownerbound revokes and introspects with this one.
  { client_id: 'revoker', client_secret: 'revoker-secret-0123456789abcdef', grant_types: ['client_credentials'],
    redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
];

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // The revoker may revoke and introspect tokens issued to other clients.
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true, allowedPolicy: async () => true },
  },
  scopes: ['api'],
  clientBasedCORS: () => true,
});

const handler = provider.callback();
server.on('request', async (req, res) => {
  if (req.url === '/resource') {
    const token = (req.headers.authorization || '').replace(/^Bearer /, '');
    const found = token
      ? (await provider.ClientCredentials.find(token)) || (await provider.AccessToken.find(token))
      : undefined;
    if (!found || found.isExpired) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ ok: true }));
    return;
  }
  handler(req, res);
});

process.stdout.write(JSON.stringify({ issuer, port }) + '\n');
