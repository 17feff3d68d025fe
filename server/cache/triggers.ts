/**
 * Triggers that make writes made outside Sluice (psql, a migration, another service) reach
 * every cache within a notification's delivery time: one statement-level trigger per table
 * sends `t OID` (./messages.ts) on the channel when a statement wrote it, in the writing
 * transaction, so the notification goes out at its commit. An event trigger (superusers
 * only) sends `d` after DDL and gives new tables the trigger too. Everything lives in the
 * schema `sluice_cache`; removing it removes them all.
 */
import type pg from 'pg'
import { CHANNEL } from './messages.js'

/** The name of the trigger on each table (the catalog does not count it as the table's own). */
export const TRIGGER_NAME = 'sluice_cache_notify'

/**
 * The body of the trigger function, which only notifies. The catalog (./catalog-query.ts)
 * takes a trigger named {@link TRIGGER_NAME} for Sluice's own only when its function is
 * this one, with this body and setting: anyone who may create a trigger may give it that
 * name, and a trigger of the table's own may write anywhere.
 */
export const NOTIFY_CHANGE_BODY = `
begin
  perform pg_notify('${CHANNEL}', 't ' || coalesce(pg_partition_root(tg_relid)::oid, tg_relid)::text);
  return null;
end `

/** The setting the functions run with (pg_proc.proconfig), as PostgreSQL records it. */
export const FUNCTION_CONFIG = 'search_path=pg_catalog, pg_temp'

/**
 * The functions run as whichever role writes, under its search_path, which it may set to put
 * a schema of its own first (a pg_notify there would swallow the notification): each runs
 * with pg_catalog alone (pg_temp last, so no temporary object shadows either).
 */
const FUNCTIONS = `
create schema if not exists sluice_cache;
comment on schema sluice_cache is 'Sluice: triggers that tell gateway caches about writes (sluice cache remove-triggers drops it)';
create or replace function sluice_cache.notify_change() returns trigger language plpgsql
set search_path = pg_catalog, pg_temp as $$${NOTIFY_CHANGE_BODY}$$;
create or replace function sluice_cache.add_trigger(target regclass) returns void language plpgsql
set search_path = pg_catalog, pg_temp as $$
begin
  execute format(
    'create or replace trigger ${TRIGGER_NAME} after insert or update or delete or truncate on %s '
    'for each statement execute function sluice_cache.notify_change()', target);
end $$;
create or replace function sluice_cache.notify_ddl() returns event_trigger language plpgsql
set search_path = pg_catalog, pg_temp as $$
declare
  command record;
begin
  for command in select * from pg_event_trigger_ddl_commands()
    where command_tag in ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
      and object_type in ('table', 'partitioned table')
      and schema_name not in ('pg_catalog', 'information_schema', 'sluice_cache')
      and schema_name not like 'pg_temp%'
  loop
    perform sluice_cache.add_trigger(command.objid::regclass);
  end loop;
  perform pg_notify('${CHANNEL}', 'd');
end $$;
`

/** The tables that get a trigger: ordinary and partitioned, outside system schemas. */
const TABLES = `
select c.oid::regclass::text as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and c.relpersistence = 'p'
   and n.nspname not in ('pg_catalog', 'information_schema', 'sluice_cache')
   and n.nspname not like 'pg_toast%'
   and ($1::text[] is null or n.nspname = any ($1::text[]))
 order by 1`

/** What an install did. */
export interface TriggerReport {
  /** Tables that now notify on every write. */
  tables: string[]
  /** The DDL event trigger is in place (it needs a superuser). */
  eventTrigger: boolean
  /** Why it is not, when it is not. */
  eventTriggerProblem?: string
}

/**
 * Installs (or refreshes) the triggers on every table of `schemas` (all but the system ones
 * when undefined), in one transaction; then the event trigger, when the user may.
 */
export async function installTriggers(
  client: pg.Client,
  schemas: readonly string[] | undefined,
): Promise<TriggerReport> {
  await client.query('begin')
  let tables: string[]
  try {
    await client.query(FUNCTIONS)
    tables = (await client.query<{ name: string }>(TABLES, [schemas ?? null])).rows.map(
      (row) => row.name,
    )
    for (const table of tables) await client.query('select sluice_cache.add_trigger($1)', [table])
    await client.query('commit')
  } catch (error) {
    await client.query('rollback').catch(() => {})
    throw error
  }
  try {
    await client.query(
      'drop event trigger if exists sluice_cache_ddl; create event trigger sluice_cache_ddl on ddl_command_end execute function sluice_cache.notify_ddl()',
    )
    return { tables, eventTrigger: true }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { tables, eventTrigger: false, eventTriggerProblem: message }
  }
}

/** Removes every trigger and function installed by {@link installTriggers}. */
export async function removeTriggers(client: pg.Client): Promise<void> {
  await client.query('drop event trigger if exists sluice_cache_ddl')
  // The triggers depend on the function: CASCADE drops them with the schema.
  await client.query('drop schema if exists sluice_cache cascade')
}
