/**
 * Test certificates made with openssl at test time: a CA, the broker's certificate for 127.0.0.1 and
 * localhost (as a PKCS#12 keystore the broker reads), a client certificate for mutual TLS, a second,
 * unrelated CA (for "TLS mismatch" tests), and a broker certificate of the same CA for another host name
 * only (for hostname verification tests). EC P-256 keys: fast to make.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCerts {
  readonly dir: string;
  readonly caPem: string;
  readonly otherCaPem: string;
  readonly brokerP12: string;
  readonly brokerP12Password: string;
  /** A broker keystore (same password) whose certificate names only kafka.other.example. */
  readonly otherNameP12: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  /** The client certificate and key as a PKCS#12 keystore (password `clientP12Password`). */
  readonly clientP12: string;
  readonly clientP12Password: string;
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'streamsql-certs-'));
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name));
  for (const ca of ['ca', 'other-ca']) {
    key(`${ca}.key`);
    ssl('req', '-x509', '-new', '-key', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '2', '-subj', `/CN=streamsql test ${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  const sign = (name: string, cn: string, ext: string) => {
    key(`${name}.key`);
    ssl('req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  sign('broker', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  sign('client', 'streamsql-client', 'extendedKeyUsage=clientAuth\n');
  sign('other-name', 'kafka.other.example', 'subjectAltName=DNS:kafka.other.example\nextendedKeyUsage=serverAuth\n');
  ssl('pkcs12', '-export', '-in', f('broker.pem'), '-inkey', f('broker.key'), '-certfile', f('ca.pem'), '-name', 'broker', '-out', f('broker.p12'), '-passout', 'pass:broker-store');
  ssl('pkcs12', '-export', '-in', f('other-name.pem'), '-inkey', f('other-name.key'), '-certfile', f('ca.pem'), '-name', 'broker', '-out', f('other-name.p12'), '-passout', 'pass:broker-store');
  ssl('pkcs12', '-export', '-in', f('client.pem'), '-inkey', f('client.key'), '-name', 'client', '-out', f('client.p12'), '-passout', 'pass:client-store');
  return {
    clientP12: f('client.p12'), clientP12Password: 'client-store',
    dir, caPem: f('ca.pem'), otherCaPem: f('other-ca.pem'), brokerP12: f('broker.p12'), brokerP12Password: 'broker-store', otherNameP12: f('other-name.p12'),
    clientCertPem: f('client.pem'), clientKeyPem: f('client.key'),
  };
}
