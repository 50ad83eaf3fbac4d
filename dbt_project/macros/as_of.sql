{#- The explicit as-of override, from the `as_of_date` var. Three forms:
      unset / null / ''                    -> no override: each tenant's own last transaction date
      'YYYY-MM-DD'                         -> that date for every tenant (backfills, point-in-time features)
      {tenant_id: 'YYYY-MM-DD', ...}       -> those tenants pinned, the others on their own last date
    Validated at compile time so a typo fails the build with the value named, before any SQL runs. -#}
{% macro as_of_var() -%}
    {%- set raw = var('as_of_date', none) -%}
    {%- if raw is none or (raw is string and raw | trim == '') -%}
        {{ return(none) }}
    {%- elif raw is mapping -%}
        {%- set pinned = {} -%}
        {%- for tenant, day in raw.items() -%}
            {%- do pinned.update({tenant | string: _as_of_day(day, "as_of_date['" ~ tenant ~ "']")}) -%}
        {%- endfor -%}
        {{ return(pinned if pinned else none) }}
    {%- else -%}
        {{ return(_as_of_day(raw, 'as_of_date')) }}
    {%- endif -%}
{%- endmacro %}


{% macro _as_of_day(value, label) -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', text) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ label ~ " must be 'YYYY-MM-DD' (or as_of_date a mapping of tenant_id to 'YYYY-MM-DD'), got '"
            ~ value ~ "'") }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}


{#- SQL expression: the override date for the tenant in `tenant_column`, or null when it has none. -#}
{% macro as_of_override(tenant_column) -%}
    {%- set pinned = as_of_var() -%}
    {%- if pinned is none -%}
        cast(null as date)
    {%- elif pinned is mapping -%}
        case {{ tenant_column }}
        {%- for tenant, day in pinned.items() %}
            when '{{ tenant | replace("'", "''") }}' then cast('{{ day }}' as date)
        {%- endfor %}
        end
    {%- else -%}
        cast('{{ pinned }}' as date)
    {%- endif -%}
{%- endmacro %}
