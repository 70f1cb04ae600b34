{#- Generic test: `columns` are a key of the rows - unique together and never NULL (one query
    instead of a `unique` and a `not_null` test per column: each test costs dbt a node).
    Written here because the project installs no dbt packages (nothing is fetched). -#}
{% test primary_key(model, columns) %}
SELECT {{ columns | join(', ') }}, count(*) AS copies
FROM {{ model }}
GROUP BY {{ columns | join(', ') }}
HAVING count(*) > 1 OR {% for c in columns %}{{ c }} IS NULL{% if not loop.last %} OR {% endif %}{% endfor %}
{% endtest %}
