{#- Exact-number helpers. Marts must be identical on DuckDB and Postgres, and the engines disagree on
    two things: casting a double straight to a decimal (DuckDB scales the binary value, so 1.005 -> 1.00;
    Postgres goes through 15 significant digits, so 1.005 -> 1.01), and the type of a decimal division
    (DuckDB returns a double). These macros avoid both. -#}

{% macro to_money(expr, scale=2) -%}
    {#- Through decimal(28,6) first: both engines agree on that cast, then round half away from zero. -#}
    cast(cast({{ expr }} as decimal(28, 6)) as decimal(18, {{ scale }}))
{%- endmacro %}


{% macro div_round(numerator, denominator, places=4) -%}
    {#- round(numerator / denominator, places), half away from zero, as decimal(28, places), for
        integer-valued inputs (counts, days, cents). floor() of a double division of integers below 2^53 is
        exact on every IEEE engine, so the result does not depend on the engine's decimal arithmetic.
        Null when the denominator is 0 or null. -#}
    {%- set scale = 10 ** places -%}
    {%- set unit = '1' if places == 0 else '0.' ~ ('0' * (places - 1)) ~ '1' -%}
    cast(
        cast(
            sign(cast({{ numerator }} as double precision))
            * floor(
                (2 * abs(cast({{ numerator }} as double precision)) * {{ scale }}
                    + abs(cast({{ denominator }} as double precision)))
                / nullif(2 * abs(cast({{ denominator }} as double precision)), 0)
            )
            * sign(cast({{ denominator }} as double precision))
        as decimal(38, 0)) * cast({{ unit }} as decimal(38, {{ places }}))
    as decimal(28, {{ places }}))
{%- endmacro %}


{% macro to_cents(money_expr) -%}
    {#- Exact integer cents of a decimal(..., 2) money value, for use with div_round. -#}
    cast({{ money_expr }} * 100 as bigint)
{%- endmacro %}
