// A real OpenID provider for the single sign-on tests: oidc-provider (a certified
// implementation) on 127.0.0.1, a random port, with its development interaction
// pages (any login name, any password). Prints "ISSUER <url>" once it listens.
//
// The tests steer it through /test/ routes (only this script has them):
//   PUT  /test/accounts/<id>      the account's claims (JSON), e.g. email, groups
//   POST /test/next-token/<mode>  the next token response's ID token is altered once:
//                                 "tampered" (one signature byte changed) or
//                                 "wrong-audience" (re-signed with the provider's own
//                                 key, for another client)
//   POST /test/next-jwks/<mode>   the next key set it serves is broken once:
//                                 "no-keys" (no "keys" member), "no-kid" (its key
//                                 without "kid") or "unknown-kty" (a key type no
//                                 library knows)
// Usage: node tests/oidc_provider.mjs <client_id> <client_secret>
import http from 'node:http';

import { CompactSign, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const [clientId = 'chatsite', clientSecret = 'chatsite-test-secret'] = process.argv.slice(2);
const accounts = new Map();
let nextTokenMode = null;
let nextJwksMode = null;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/oidc/callback/'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'groups'],
  },
  async findAccount(ctx, id) {
    return { accountId: id, claims: async () => ({ sub: id, ...(accounts.get(id) || {}) }) };
  },
  features: { devInteractions: { enabled: true } },
});
// Every live test server listens on its own port: any callback on loopback is allowed.
provider.Client.prototype.redirectUriAllowed = (uri) =>
  /^http:\/\/127\.0\.0\.1:\d+\/oidc\/callback\/$/.test(uri);

async function alter(idToken, mode) {
  if (mode === 'tampered') {
    const [header, payload, signature] = idToken.split('.');
    const flipped = (signature[10] === 'A' ? 'B' : 'A');
    return [header, payload, signature.slice(0, 10) + flipped + signature.slice(11)].join('.');
  }
  const claims = { ...decodeJwt(idToken), aud: 'another-client', azp: 'another-client' };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, typ: 'JWT' })
    .sign(privateKey);
}

function brokenJwks(jwks, mode) {
  if (mode === 'no-keys') return {};
  if (mode === 'no-kid') return { keys: jwks.keys.map(({ kid, ...key }) => key) };
  return { keys: jwks.keys.map((key) => ({ ...key, kty: 'XYZ' })) };
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/jwks' && ctx.status === 200 && nextJwksMode) {
    ctx.body = brokenJwks(ctx.body, nextJwksMode);
    nextJwksMode = null;
  }
  if (ctx.path === '/token' && ctx.status === 200 && nextTokenMode && ctx.body?.id_token) {
    const mode = nextTokenMode;
    nextTokenMode = null;
    ctx.body = { ...ctx.body, id_token: await alter(ctx.body.id_token, mode) };
  }
});

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
  });
}

async function testRoute(req, res) {
  const [, , kind, name] = req.url.split('/');
  if (kind === 'accounts' && req.method === 'PUT') {
    accounts.set(decodeURIComponent(name), JSON.parse(await readBody(req)));
  } else if (kind === 'next-token' && ['tampered', 'wrong-audience'].includes(name)) {
    nextTokenMode = name;
  } else if (kind === 'next-jwks' && ['no-keys', 'no-kid', 'unknown-kty'].includes(name)) {
    nextJwksMode = name;
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(204).end();
}

const callback = provider.callback();
server.on('request', (req, res) => (req.url.startsWith('/test/') ? testRoute(req, res) : callback(req, res)));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
console.log(`ISSUER ${issuer}`);
