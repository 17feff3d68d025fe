/**
 * The one catalog query of the cache: what the relations, functions, operators and casts a
 * statement names are, in one round trip. Relations are followed through views (the
 * relations and functions a view's definition uses) and through foreign keys whose
 * `ON DELETE` / `ON UPDATE` action changes the referencing table.
 */

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
  /** It or one of its partitions has a trigger of its own (not Sluice's). */
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

/** `$1` relation names (as `to_regclass` reads them), `$2` function, `$3` operator, `$4` type names. */
export const CATALOG_SQL = `
with recursive
named as (
  select n.name, to_regclass(n.name)::oid as oid from unnest($1::text[]) as n(name)
),
reached(oid) as (
  select oid from named where oid is not null
  union
  select next.oid
    from reached r, lateral (
      select d.refobjid as oid
        from pg_rewrite w
        join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid
         and d.refclassid = 'pg_class'::regclass and d.refobjid <> r.oid
       where w.ev_class = r.oid and w.rulename = '_RETURN'
      union all
      select c.conrelid
        from pg_constraint c
       where c.contype = 'f' and c.confrelid = r.oid
         and (c.confdeltype in ('c', 'n', 'd') or c.confupdtype in ('c', 'n', 'd'))
    ) next
),
info as (
  select c.oid, c.relname, c.relkind, n.nspname, c.relpersistence, c.relrowsecurity,
         coalesce(pg_partition_root(c.oid)::oid, c.oid) as key,
         array(select c.oid union select relid from pg_partition_tree(c.oid)) as tree
    from (select distinct oid from reached) r
    join pg_class c on c.oid = r.oid
    join pg_namespace n on n.oid = c.relnamespace
),
deps as (
  select distinct w.ev_class as view, d.refclassid, d.refobjid
    from info i
    join pg_rewrite w on w.ev_class = i.oid and w.rulename = '_RETURN'
    join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid
),
view_routines as (
  select d.view, pn.nspname as schema, p.proname as name, p.provolatile as volatility
    from deps d
    join pg_proc p on p.oid = d.refobjid
    join pg_namespace pn on pn.oid = p.pronamespace
   where d.refclassid = 'pg_proc'::regclass
  union all
  select d.view, pn.nspname, o.oprname, p.provolatile
    from deps d
    join pg_operator o on o.oid = d.refobjid
    join pg_proc p on p.oid = o.oprcode
    join pg_namespace pn on pn.oid = o.oprnamespace
   where d.refclassid = 'pg_operator'::regclass
)
select json_build_object(
  'named', (select coalesce(json_agg(json_build_object('name', name, 'oid', oid::int8)), '[]') from named),
  'relations', (select coalesce(json_agg(json_build_object(
      'oid', i.oid::int8,
      'name', i.relname,
      'kind', i.relkind,
      'schema', i.nspname,
      'temp', i.relpersistence = 't',
      'rls', i.relrowsecurity,
      'key', i.key::int8,
      'definition', case when i.relkind = 'v' then pg_get_viewdef(i.oid) end,
      'inherits', exists (
        select from pg_inherits h join pg_class ch on ch.oid = h.inhrelid
         where (h.inhrelid = i.oid or h.inhparent = i.oid) and not ch.relispartition),
      'triggers', exists (
        select from pg_trigger t
         where t.tgrelid = any (i.tree) and not t.tgisinternal and t.tgname <> 'sluice_cache_notify'),
      'rules', exists (
        select from pg_rewrite w where w.ev_class = any (i.tree) and w.rulename <> '_RETURN'),
      'uses', (select coalesce(json_agg(d.refobjid::int8), '[]') from deps d
                where d.view = i.oid and d.refclassid = 'pg_class'::regclass and d.refobjid <> i.oid),
      'cascades', (select coalesce(json_agg(distinct c.conrelid::int8), '[]') from pg_constraint c
                    where c.contype = 'f' and c.confrelid = any (i.tree)
                      and (c.confdeltype in ('c', 'n', 'd') or c.confupdtype in ('c', 'n', 'd'))),
      'routines', (select coalesce(json_agg(json_build_object(
                     'schema', v.schema, 'name', v.name, 'volatility', v.volatility)), '[]')
                     from view_routines v where v.view = i.oid)
  )), '[]') from info i),
  'functions', (select coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'name', p.proname, 'volatility', p.provolatile)), '[]')
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where p.proname = any ($2::text[])),
  'operators', (select coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'name', o.oprname, 'volatility', p.provolatile)), '[]')
      from pg_operator o join pg_proc p on p.oid = o.oprcode
      join pg_namespace n on n.oid = o.oprnamespace
     where o.oprname = any ($3::text[])),
  'casts', (select coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'name', t.typname, 'volatility', p.provolatile)), '[]')
      from pg_cast c join pg_type t on t.oid = c.casttarget
      join pg_proc p on p.oid = c.castfunc
      join pg_namespace n on n.oid = p.pronamespace
     where t.typname = any ($4::text[]) and n.nspname <> 'pg_catalog')
)::text as answer`
