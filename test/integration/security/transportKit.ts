// Throw-away credentials for the transport tests: a CA with server and client certificates
// (openssl), nkey users, and a decentralized (operator/account/user JWT) setup with a creds file.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { tempDir } from "../../helpers/tmp.js";

export interface Pki {
  dir: string;
  ca: string;
  /** A CA that signed nothing here: trusting it must fail. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe", timeout: 20_000 });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate. */
export function makePki(): Pki {
  const dir = tempDir("kanade-pki-");
  openssl(dir, [
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=kanade test CA",
  ]);
  openssl(dir, [
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "other.key",
    "-out",
    "other.pem",
    "-days",
    "1",
    "-subj",
    "/CN=unrelated CA",
  ]);
  const leaf = (name: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, [
      "req",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  leaf("client", "extendedKeyUsage=clientAuth\n");
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p("ca.pem"),
    otherCa: p("other.pem"),
    serverCert: p("server.pem"),
    serverKey: p("server.key"),
    clientCert: p("client.pem"),
    clientKey: p("client.key"),
  };
}

/** The server's `tls {}` block; `verify` demands a client certificate signed by the CA. */
export function serverTls(pki: Pki, verify: boolean): string {
  return `tls {\n  cert_file: "${pki.serverCert}"\n  key_file: "${pki.serverKey}"\n  ca_file: "${pki.ca}"\n  verify: ${verify}\n  timeout: 2\n}\n`;
}

export const secret = (label: string): string => `${label}-${randomBytes(12).toString("hex")}`;

/** A new nkey user: its public key for the server, its seed for the client. */
export function nkeyUser(): { publicKey: string; seed: string } {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

const b64u = (data: Uint8Array | string): string => Buffer.from(data).toString("base64url");

/** A NATS JWT (ed25519-nkey) for `subject`, signed by `issuer`. */
function natsJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>) {
  const header = b64u(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims = {
    jti: randomBytes(16).toString("hex").toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  const signingInput = `${header}.${b64u(JSON.stringify(claims))}`;
  return `${signingInput}.${b64u(issuer.sign(new TextEncoder().encode(signingInput)))}`;
}

export interface Decentralized {
  /** Server config: trusted operator and a memory resolver holding the account. */
  serverConfig: string;
  /** Writes a creds file for a new user of the account; returns its path. */
  userCreds(name: string): string;
}

/** Operator → account → users, as `nsc` would make them (no system account, so no JetStream). */
export function decentralized(): Decentralized {
  const operator = createOperator();
  const account = createAccount();
  const unlimited = {
    subs: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    conn: -1,
    leaf: -1,
  };
  const operatorJwt = natsJwt(operator, operator.getPublicKey(), "kanade-test", {
    type: "operator",
  });
  const accountJwt = natsJwt(operator, account.getPublicKey(), "kanade", {
    type: "account",
    limits: { ...unlimited, wildcards: true },
  });
  const dir = tempDir("kanade-creds-");
  return {
    serverConfig:
      `operator: ${operatorJwt}\nresolver: MEMORY\n` +
      `resolver_preload: {\n  ${account.getPublicKey()}: ${accountJwt}\n}\n`,
    userCreds(name) {
      const user = createUser();
      const jwt = natsJwt(account, user.getPublicKey(), name, {
        type: "user",
        pub: {},
        sub: {},
        subs: -1,
        data: -1,
        payload: -1,
      });
      const seed = new TextDecoder().decode(user.getSeed());
      const file = join(dir, `${name}.creds`);
      writeFileSync(
        file,
        `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
          `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
        { mode: 0o600 },
      );
      return file;
    },
  };
}
