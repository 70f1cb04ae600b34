{#- Generic test: every row satisfies `expression` (a SQL boolean over the model's columns);
    the failing rows are returned. Named as dbt_utils' test, which the project does not install. -#}
{% test expression_is_true(model, expression) %}
SELECT *
FROM {{ model }}
WHERE NOT coalesce(({{ expression }}), FALSE)
{% endtest %}
