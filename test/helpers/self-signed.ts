/**
 * A self-signed certificate for `localhost`, for tests of the TCP listener's TLS
 * (`server.pgTls`): made with openssl in a new temporary folder, removed by `remove()`.
 */
import { execFileSync } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The certificate's files, in the shape of `server.pgTls`, and a way to remove them. */
export interface SelfSignedCertificate {
  pgTls: { certFile: string; keyFile: string }
  remove(): Promise<void>
}

/** Makes a key and a self-signed certificate for `localhost`, valid for two days. */
export async function selfSignedLocalhost(): Promise<SelfSignedCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-self-signed-'))
  await chmod(dir, 0o755)
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
    ].concat(['-keyout', 'key.pem', '-out', 'cert.pem']),
    { cwd: dir, stdio: 'pipe' },
  )
  return {
    pgTls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}
