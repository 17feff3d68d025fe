/**
 * Least privilege: a tenant's database role must not be able to reach the server's files
 * or programs, or step around row-level security, since every token holder (a readonly one
 * included) runs SQL as that role. Each new connection of a tenant's pool asks PostgreSQL
 * what its role may do; a privileged role is refused, unless the tenant's config says
 * `allowPrivilegedRole: true`.
 */
import { SluiceError } from '../../src/errors.js'
import type { Connection } from '../pool/connection.js'

// One row: the role's name, then t/f for each privilege in PRIVILEGES' order. Qualified
// names: the role's own search_path could put a schema of its before pg_catalog.
const PRIVILEGES_SQL = `SELECT current_user::text, r.rolsuper, r.rolbypassrls,
  pg_catalog.pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'),
  pg_catalog.pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'),
  pg_catalog.pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')
FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user`

/** What each privilege lets any token holder do. */
const PRIVILEGES = [
  ['superuser', 'anything, COPY ... TO PROGRAM and pg_read_file included'],
  ['BYPASSRLS', 'read and write past every row-level security policy'],
  ['pg_execute_server_program', 'run programs on the database server (COPY ... PROGRAM)'],
  ['pg_read_server_files', "read the database server's files (pg_read_file, COPY FROM a file)"],
  ['pg_write_server_files', "write the database server's files (COPY TO a file)"],
] as const

/** The role a connection runs as, and its privileges that a token holder could abuse. */
export async function privilegesOf(
  connection: Connection,
): Promise<{ role: string; privileges: string[] }> {
  const { rows } = await connection.run({ text: PRIVILEGES_SQL, simple: true })
  const [role = '', ...flags] = rows[0] ?? []
  const privileges = PRIVILEGES.filter((_, i) => flags[i] === 't').map(([name]) => name)
  // A superuser is a member of every role: naming it alone says it all.
  return {
    role: role ?? '',
    privileges: privileges.includes('superuser') ? ['superuser'] : privileges,
  }
}

/** FORBIDDEN: the tenant is not served while its role holds `privileges`. */
export function privilegedRole(tenant: string, role: string, privileges: string[]): SluiceError {
  const risks = PRIVILEGES.filter(([name]) => privileges.includes(name))
    .map(([name, risk]) => `${name} (${risk})`)
    .join('; ')
  return new SluiceError(
    'FORBIDDEN',
    `tenant ${tenant} is not served: its database role ${JSON.stringify(role)} holds ${risks}, and every token holder, a readonly one included, runs SQL as that role. Connect as a least-privilege role (docs/deploy.md#a-least-privilege-role), or set tenants.${tenant}.allowPrivilegedRole: true to accept the risk`,
  )
}
