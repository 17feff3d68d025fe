/**
 * The one catalog query of the cache: what the relations, functions, operators and casts a
 * statement names are, in one round trip. Relations are followed through views (the
 * relations and functions a view's definition uses) and through foreign keys whose
 * `ON DELETE` / `ON UPDATE` action changes the referencing table.
 */

import { FUNCTION_CONFIG, NOTIFY_CHANGE_BODY, TRIGGER_NAME } from './triggers.js'

/** `text` as a dollar-quoted SQL literal (it holds no `$sluice$`). */
function dollarQuoted(text: string): string {
  return `$sluice$${text}$sluice$`
}

/** A relation the query reached. */
export interface RelationRow {
  oid: number
  name: string
  /** pg_class.relkind: r table, p partitioned, v view, m materialized view, f foreign, S sequence… */
  kind: string
  schema: string
  temp: boolean
  rls: boolean
  /** The root of its partition tree, or itself: the name entries and writes are indexed by. */
  key: number
  /** A view's definition (pg_get_viewdef), parsed for the built-in functions it calls. */
  definition: string | null
  /** Takes part in table inheritance (not partitioning). */
  inherits: boolean
  /** It or one of its partitions has a trigger of its own (not Sluice's, whose function is checked). */
  triggers: boolean
  /** It or one of its partitions has a rule other than a view's. */
  rules: boolean
  /** The relations a view's definition reads. */
  uses: number[]
  /** Tables whose foreign key changes them when a row of this one is deleted or updated. */
  cascades: number[]
  /**
   * User-defined functions and operators a view's definition calls (PostgreSQL records no
   * dependency on built-in ones: those are read from the definition).
   */
  routines: RoutineRow[]
}

/** A function (or an operator's function) and its volatility. */
export interface RoutineRow {
  schema: string
  name: string
  /** pg_proc.provolatile: i immutable, s stable, v volatile. */
  volatility: 'i' | 's' | 'v'
}

/** What the catalog said. */
export interface CatalogAnswer {
  /** Each relation name asked for, and its oid when it exists. */
  named: { name: string; oid: number | null }[]
  relations: RelationRow[]
  /** Every function with one of the names asked for, in any schema. */
  functions: RoutineRow[]
  /** Every operator with one of the names asked for; `name` is the operator's. */
  operators: RoutineRow[]
  /** User-defined casts to the type names asked for; `name` is the target type's. */
  casts: RoutineRow[]
}

/**
 * `$1` relation names (as `to_regclass` reads them), `$2` function, `$3` operator, `$4` type
 * names. Every table, function, type and operator is qualified with pg_catalog: the query
 * runs as the tenant's role, which may set its own `search_path` to put a schema of its own
 * before pg_catalog, and an object there of the same name (a `pg_trigger` view that shows no
 * trigger) would make the cache trust what it must not. `to_regclass` still reads the names
 * asked for under that `search_path`, as the statement itself does.
 */
export const CATALOG_SQL = `
with recursive
named as (
  select n.name, pg_catalog.to_regclass(n.name)::pg_catalog.oid as oid
    from pg_catalog.unnest($1::pg_catalog.text[]) as n(name)
),
reached(oid) as (
  select oid from named where oid is not null
  union
  select next.oid
    from reached r, lateral (
      select d.refobjid as oid
        from pg_catalog.pg_rewrite w
        join pg_catalog.pg_depend d
          on d.classid operator(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
         and d.objid operator(pg_catalog.=) w.oid
         and d.refclassid operator(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
         and d.refobjid operator(pg_catalog.<>) r.oid
       where w.ev_class operator(pg_catalog.=) r.oid and w.rulename operator(pg_catalog.=) '_RETURN'
      union all
      select c.conrelid
        from pg_catalog.pg_constraint c
       where c.contype operator(pg_catalog.=) 'f' and c.confrelid operator(pg_catalog.=) r.oid
         and (c.confdeltype operator(pg_catalog.=) any ('{c,n,d}'::pg_catalog."char"[])
           or c.confupdtype operator(pg_catalog.=) any ('{c,n,d}'::pg_catalog."char"[]))
    ) next
),
info as (
  select c.oid, c.relname, c.relkind, n.nspname, c.relpersistence, c.relrowsecurity,
         coalesce(pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid, c.oid) as key,
         array(select c.oid union select relid from pg_catalog.pg_partition_tree(c.oid)) as tree
    from (select distinct oid from reached) r
    join pg_catalog.pg_class c on c.oid operator(pg_catalog.=) r.oid
    join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) c.relnamespace
),
deps as (
  select distinct w.ev_class as view, d.refclassid, d.refobjid
    from info i
    join pg_catalog.pg_rewrite w
      on w.ev_class operator(pg_catalog.=) i.oid and w.rulename operator(pg_catalog.=) '_RETURN'
    join pg_catalog.pg_depend d
      on d.classid operator(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
     and d.objid operator(pg_catalog.=) w.oid
),
view_routines as (
  select d.view, pn.nspname as schema, p.proname as name, p.provolatile as volatility
    from deps d
    join pg_catalog.pg_proc p on p.oid operator(pg_catalog.=) d.refobjid
    join pg_catalog.pg_namespace pn on pn.oid operator(pg_catalog.=) p.pronamespace
   where d.refclassid operator(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
  union all
  select d.view, pn.nspname, o.oprname, p.provolatile
    from deps d
    join pg_catalog.pg_operator o on o.oid operator(pg_catalog.=) d.refobjid
    join pg_catalog.pg_proc p on p.oid operator(pg_catalog.=) o.oprcode
    join pg_catalog.pg_namespace pn on pn.oid operator(pg_catalog.=) o.oprnamespace
   where d.refclassid operator(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
)
select pg_catalog.json_build_object(
  'named', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
      'name', name, 'oid', oid::pg_catalog.int8)), '[]') from named),
  'relations', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
      'oid', i.oid::pg_catalog.int8,
      'name', i.relname,
      'kind', i.relkind,
      'schema', i.nspname,
      'temp', i.relpersistence operator(pg_catalog.=) 't',
      'rls', i.relrowsecurity,
      'key', i.key::pg_catalog.int8,
      'definition', case when i.relkind operator(pg_catalog.=) 'v' then pg_catalog.pg_get_viewdef(i.oid) end,
      'inherits', exists (
        select from pg_catalog.pg_inherits h
          join pg_catalog.pg_class ch on ch.oid operator(pg_catalog.=) h.inhrelid
         where (h.inhrelid operator(pg_catalog.=) i.oid or h.inhparent operator(pg_catalog.=) i.oid)
           and not ch.relispartition),
      'triggers', exists (
        select from pg_catalog.pg_trigger t
          join pg_catalog.pg_proc p on p.oid operator(pg_catalog.=) t.tgfoid
          join pg_catalog.pg_namespace pn on pn.oid operator(pg_catalog.=) p.pronamespace
          join pg_catalog.pg_language l on l.oid operator(pg_catalog.=) p.prolang
         where t.tgrelid operator(pg_catalog.=) any (i.tree) and not t.tgisinternal
           and not (t.tgname operator(pg_catalog.=) '${TRIGGER_NAME}'
             and pn.nspname operator(pg_catalog.=) 'sluice_cache'
             and p.proname operator(pg_catalog.=) 'notify_change'
             and l.lanname operator(pg_catalog.=) 'plpgsql'
             and p.prosrc operator(pg_catalog.=) ${dollarQuoted(NOTIFY_CHANGE_BODY)}
             and p.proconfig operator(pg_catalog.=) array[${dollarQuoted(FUNCTION_CONFIG)}]::pg_catalog.text[])),
      'rules', exists (
        select from pg_catalog.pg_rewrite w
         where w.ev_class operator(pg_catalog.=) any (i.tree) and w.rulename operator(pg_catalog.<>) '_RETURN'),
      'uses', (select coalesce(pg_catalog.json_agg(d.refobjid::pg_catalog.int8), '[]') from deps d
                where d.view operator(pg_catalog.=) i.oid
                  and d.refclassid operator(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                  and d.refobjid operator(pg_catalog.<>) i.oid),
      'cascades', (select coalesce(pg_catalog.json_agg(distinct c.conrelid::pg_catalog.int8), '[]')
                     from pg_catalog.pg_constraint c
                    where c.contype operator(pg_catalog.=) 'f' and c.confrelid operator(pg_catalog.=) any (i.tree)
                      and (c.confdeltype operator(pg_catalog.=) any ('{c,n,d}'::pg_catalog."char"[])
                        or c.confupdtype operator(pg_catalog.=) any ('{c,n,d}'::pg_catalog."char"[]))),
      'routines', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
                     'schema', v.schema, 'name', v.name, 'volatility', v.volatility)), '[]')
                     from view_routines v where v.view operator(pg_catalog.=) i.oid)
  )), '[]') from info i),
  'functions', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
      'schema', n.nspname, 'name', p.proname, 'volatility', p.provolatile)), '[]')
      from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) p.pronamespace
     where p.proname operator(pg_catalog.=) any ($2::pg_catalog.text[])),
  'operators', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
      'schema', n.nspname, 'name', o.oprname, 'volatility', p.provolatile)), '[]')
      from pg_catalog.pg_operator o join pg_catalog.pg_proc p on p.oid operator(pg_catalog.=) o.oprcode
      join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) o.oprnamespace
     where o.oprname operator(pg_catalog.=) any ($3::pg_catalog.text[])),
  'casts', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
      'schema', n.nspname, 'name', t.typname, 'volatility', p.provolatile)), '[]')
      from pg_catalog.pg_cast c join pg_catalog.pg_type t on t.oid operator(pg_catalog.=) c.casttarget
      join pg_catalog.pg_proc p on p.oid operator(pg_catalog.=) c.castfunc
      join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) p.pronamespace
     where t.typname operator(pg_catalog.=) any ($4::pg_catalog.text[])
       and n.nspname operator(pg_catalog.<>) 'pg_catalog')
)::pg_catalog.text as answer`
