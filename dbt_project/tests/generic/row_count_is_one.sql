{#- Fails unless the model has exactly one row (single-row models such as int_as_of_date). -#}
{% test row_count_is_one(model) %}
    select n_rows
    from (select count(*) as n_rows from {{ model }}) as counted
    where n_rows <> 1
{% endtest %}
