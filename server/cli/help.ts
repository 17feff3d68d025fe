/** The CLI's help texts, one per command. */

/** `sluice --help`. */
export const MAIN_HELP = `Usage: sluice [command] [options]      (from a checkout: npm start -- [command] [options])

Sluice: a PostgreSQL pooling gateway for serverless code.

Commands:
  serve                 run the gateway (the default command)
  check-config FILE     validate a config file and print it resolved, secrets redacted
  token                 generate a token and the sha256 to put in the config
  embedded-url          print a psql-ready URL of the embedded database while it runs
  cache ACTION          install-triggers / remove-triggers: tell every gateway's
                        query cache about writes made outside Sluice
  help [COMMAND]        show the help of a command

Run "sluice COMMAND --help" for a command's options.
Exit codes: 0 success, 1 failure (the cause on stderr), 2 invalid configuration or arguments.`

/** `sluice serve --help`. */
export const SERVE_HELP = `Usage: sluice [serve] [--config FILE] [--data-dir DIR]

Runs the gateway. The database comes from, first match wins:
  --config FILE / SLUICE_CONFIG=FILE   a multi-tenant JSON config (see docs/configuration.md)
  DATABASE_URL                          one tenant "default" on that database
  (neither)                             an embedded PostgreSQL kept in ./.sluice/

Environment:
  PORT (8080), HOST (127.0.0.1)   override server.port and server.host
  SLUICE_TOKEN                    token of tenant "default", 16 characters or more (unset: one
                                  is generated and printed; the embedded mode keeps it in
                                  ./.sluice/token, so it stays the same across restarts)
  SLUICE_ADMIN_TOKEN              admin API token when the config sets no server.adminToken
  SLUICE_LOG_LEVEL                override server.log.level (fatal … trace, silent)
  SLUICE_PG_PORT                  serve the PostgreSQL protocol on this port (server.pgPort)
  SLUICE_DRAIN_GRACE_MS           override server.drainGraceMs (how long a drain keeps accepting)
  SLUICE_ALLOW_PRIVILEGED_ROLE=1  serve DATABASE_URL even as a superuser or privileged role
  SLUICE_DATA_DIR (./.sluice)     the embedded mode's folder (or --data-dir DIR)
  SLUICE_DEBUG=1                  print the embedded PostgreSQL's log, and the detail of a failure

Embedded mode: Ctrl-C stops the gateway and its PostgreSQL; delete ./.sluice to start over
with an empty database; "sluice embedded-url" prints a psql-ready URL while it runs.

Signals: SIGTERM / SIGINT drain (keep accepting for server.drainGraceMs, answering new work
SHUTTING_DOWN while open transactions finish) and exit 0; SIGHUP reloads the config file
(an invalid file is refused and the running config keeps serving).
Exit codes: 0 stopped, 1 cannot start (the cause on stderr), 2 invalid configuration.`

/** `sluice check-config --help`. */
export const CHECK_CONFIG_HELP = `Usage: sluice check-config FILE

Validates FILE as the gateway would at start-up (\${ENV} references are substituted from
the environment) and prints the resolved config, every default filled in and every secret
redacted. Prints one line per problem and exits 2 when the config is invalid.`

/** `sluice token --help`. */
export const TOKEN_HELP = `Usage: sluice token [--role readwrite|readonly] [--json]

Generates a random token (32 bytes, base64url) and its sha256. Give the token to the
client; put the sha256 in the config, so the config file holds no secret:

  "tokens": [{ "sha256": "<sha256>", "role": "readwrite" }]

Options:
  --role ROLE   the role of the config entry printed (default readwrite)
  --json        print {"token", "sha256", "role"} as JSON`

/** `sluice embedded-url --help`. */
export const EMBEDDED_URL_HELP = `Usage: sluice embedded-url [--data-dir DIR]

Prints the URL of the embedded PostgreSQL (user postgres, its password, 127.0.0.1 and its
port) while a Sluice runs it, for psql or a migration tool:

  psql "$(npm start --silent -- embedded-url)"

The port stays the same across restarts while it is free. When the database is not running,
exits 1 and says how to start it. SLUICE_DATA_DIR or --data-dir names another folder.`

/** `sluice cache --help`. */
export const CACHE_HELP = `Usage: sluice cache install-triggers [--config FILE] [--tenant NAME]… [--schema NAME]…
       sluice cache remove-triggers  [--config FILE] [--tenant NAME]…

install-triggers puts a statement-level trigger on every table (of each --schema, or of
every schema but the system ones) that sends a NOTIFY when a statement writes it, so writes
made outside Sluice (psql, migrations, other services) invalidate every gateway's cache
within a notification's delivery time (docs/cache.md). As a superuser it also installs a DDL
event trigger: schema changes empty the caches, and new tables get the trigger. It may be
run again at any time. remove-triggers removes all of it (the schema sluice_cache).

The database is that of each tenant of the config file (--config FILE or SLUICE_CONFIG)
that enables the cache, or of the tenants named with --tenant; without a config file,
DATABASE_URL's.`
